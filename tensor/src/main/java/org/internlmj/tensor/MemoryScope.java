package org.internlmj.tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * A region that owns tensor memory and frees it deterministically when closed, like DJL's
 * {@code NDManager}: every tensor allocated on a thread while a scope is open belongs to the innermost
 * open scope of that thread.
 *
 * <pre>{@code
 * try (MemoryScope step = MemoryScope.open()) {
 *     Tensor activations = Tensor.empty(DType.F32, Device.CPU, 4096, 768);
 *     Tensor loss = ...;
 *     step.keep(loss);          // survives: moved to the enclosing scope (or to no scope)
 * }                             // everything else allocated inside is freed here
 * }</pre>
 *
 * <p>Tensors allocated with no scope open belong to no scope: CPU memory is then reclaimed by the
 * garbage collector, which is fine for the heap arrays the CPU backend uses. Scopes are confined to
 * the thread that opened them and close in LIFO order.
 */
public final class MemoryScope implements AutoCloseable {
    private static final ThreadLocal<MemoryScope> CURRENT = new ThreadLocal<>();

    private final MemoryScope parent;
    private final Thread thread;
    private final List<Storage> storages = new ArrayList<>();
    private final boolean installed;
    private boolean closed;

    private MemoryScope(MemoryScope parent, boolean installed) {
        this.parent = parent;
        this.thread = Thread.currentThread();
        this.installed = installed;
    }

    /** Opens a scope nested in this thread's current one and makes it current. */
    public static MemoryScope open() {
        MemoryScope scope = new MemoryScope(CURRENT.get(), true);
        CURRENT.set(scope);
        return scope;
    }

    /**
     * Opens a scope that is not made current: nothing is allocated into it implicitly, tensors are
     * moved into it with {@link #adopt(Tensor)}. For long-lived state (parameters, optimizer state)
     * whose lifetime is not a block of code. May be closed from any thread, once.
     */
    public static MemoryScope detached() {
        return new MemoryScope(null, false);
    }

    /** The innermost open scope of this thread, or null. */
    public static MemoryScope current() {
        return CURRENT.get();
    }

    /** Registers a freshly allocated storage with the current scope, if any. */
    static void track(Storage storage) {
        MemoryScope scope = CURRENT.get();
        if (scope != null) {
            scope.add(storage);
        }
    }

    private synchronized void add(Storage storage) {
        if (closed) {
            throw new IllegalStateException("memory scope is closed");
        }
        storage.owner(this);
        storages.add(storage);
    }

    /**
     * Moves the tensor's storage (shared with all its views) into this scope; it is freed when this
     * scope closes, not when the scope that allocated it closes.
     */
    public Tensor adopt(Tensor tensor) {
        add(tensor.storage());
        return tensor;
    }

    /** Moves the tensor's storage to the enclosing scope (or to no scope at all) so it survives this one. */
    public Tensor keep(Tensor tensor) {
        Storage s = tensor.storage();
        if (s.owner() == this) {
            if (parent != null) {
                parent.add(s);
            } else {
                s.owner(null);
            }
        }
        return tensor;
    }

    /**
     * Moves {@code tensor}'s storage to the scope that owns {@code anchor}'s storage, or out of every
     * scope when none owns it, so that the two are freed together. For memory that must live as long as
     * another tensor whatever scope is current when it is allocated (autograd allocates a parameter's
     * gradient this way, during a backward pass that runs inside a step's scope).
     */
    public static Tensor moveToOwnerOf(Tensor tensor, Tensor anchor) {
        Storage s = tensor.storage();
        MemoryScope owner = anchor.storage().owner();
        if (owner == s.owner()) {
            return tensor;
        }
        if (owner != null) {
            return owner.adopt(tensor);
        }
        // A scope frees only the storages it still owns, so clearing the owner takes the storage out.
        s.owner(null);
        return tensor;
    }

    /** Number of storages this scope will free on close (those moved away are not counted). */
    public synchronized int size() {
        int n = 0;
        for (Storage s : storages) {
            if (s.owner() == this && !s.isClosed()) {
                n++;
            }
        }
        return n;
    }

    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            if (installed) {
                if (Thread.currentThread() != thread) {
                    throw new IllegalStateException("memory scope opened on thread " + thread.getName()
                            + " closed from thread " + Thread.currentThread().getName());
                }
                if (CURRENT.get() != this) {
                    throw new IllegalStateException("memory scopes must close innermost first: "
                            + "an inner scope opened inside this one is still open");
                }
            }
            closed = true;
            for (Storage s : storages) {
                if (s.owner() == this) {
                    s.owner(null);
                    s.close();
                }
            }
            storages.clear();
        }
        if (installed) {
            if (parent != null) {
                CURRENT.set(parent);
            } else {
                CURRENT.remove();
            }
        }
    }
}
