package org.internlmj.autograd;

import java.util.function.Consumer;

/**
 * Turns gradient recording off (or back on) for the current thread while open: operations inside
 * return constants and record no graph, like {@code torch.no_grad()}.
 *
 * <pre>{@code
 * try (NoGrad g = NoGrad.enter()) {
 *     Variable logits = model.forward(ids);     // evaluation: no graph, no saved tensors
 * }
 * }</pre>
 *
 * <p>Blocks nest and must close innermost first.
 */
public final class NoGrad implements AutoCloseable {

    /**
     * The recording state of a thread. {@code collector}, when set, is told about every variable that
     * requires grad and is used by an operation that ran unrecorded because of this state: a
     * checkpoint's forward learns that way which outside variables (parameters) its block uses.
     */
    record State(boolean enabled, Consumer<Variable> collector) {
        static final State ENABLED = new State(true, null);
    }

    private static final ThreadLocal<State> STATE = ThreadLocal.withInitial(() -> State.ENABLED);

    private final State previous;
    private final State installed;
    private boolean closed;

    private NoGrad(State installed) {
        this.previous = STATE.get();
        this.installed = installed;
        STATE.set(installed);
    }

    /** Disables recording until closed. */
    public static NoGrad enter() {
        // A fresh state per block (not a shared constant) lets close() tell nested blocks apart.
        return new NoGrad(new State(false, null));
    }

    /** Enables recording until closed, even inside a {@link #enter()} block (like {@code torch.enable_grad()}). */
    public static NoGrad enableGrad() {
        return new NoGrad(new State(true, null));
    }

    /** Disables recording but reports the variables requiring grad that unrecorded operations use. */
    static NoGrad collecting(Consumer<Variable> collector) {
        return new NoGrad(new State(false, collector));
    }

    /** True unless a {@link #enter()} block is open on this thread. */
    public static boolean isGradEnabled() {
        return STATE.get().enabled();
    }

    static State state() {
        return STATE.get();
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        if (STATE.get() != installed) {
            throw new IllegalStateException("NoGrad blocks must close innermost first: a block opened inside "
                    + "this one is still open");
        }
        closed = true;
        STATE.set(previous);
    }
}
