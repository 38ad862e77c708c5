package org.internlmj.trainer.ckpt;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.internlmj.trainer.config.CkptConfig;

/**
 * When and how checkpoints are written during a run (InternLM's {@code ckpt} section):
 * <ul>
 *   <li>every {@code checkpoint_every} steps a checkpoint {@code <save_ckpt_folder>/<step>}, keeping the
 *       newest {@code keep_last} of them when that is set;</li>
 *   <li>every {@code oss_snapshot_freq} steps a snapshot into one of two alternating slots
 *       {@code <snapshot_ckpt_folder>/0} and {@code /1}, so a crash loses at most that many steps;</li>
 *   <li>{@code stop_file_path}: a file holding a step number N, polled every step: N &gt; 0 saves and
 *       stops at step N, N &lt; 0 saves at step |N| and goes on;</li>
 *   <li>{@code async_upload}: the state is copied at the step boundary and written by a background thread
 *       while training continues; a second save waits for the first, and {@link #close()} waits for the
 *       last (InternLM uses the key for remote uploads only; here it applies to local folders).</li>
 * </ul>
 */
public final class CheckpointManager implements AutoCloseable {
    private final CkptConfig cfg;
    private final Path root;
    private final Path snapshotRoot;
    private final Path stopFile;
    private final int keepLast;
    private final Consumer<String> log;
    private final ExecutorService writer;
    private Future<Path> pending;
    private long lastSavedStep = -1;
    private long stopFileSavedAt = Long.MIN_VALUE;

    private final CheckpointStore.Participation who;
    private volatile SaveListener onSaved = (folder, step, snapshot) -> { };

    /** Told about every checkpoint or snapshot once it is completely on disk (main rank only). */
    @FunctionalInterface
    public interface SaveListener {
        void saved(Path folder, long step, boolean snapshot);
    }

    public CheckpointManager(CkptConfig cfg, Path root, Path snapshotRoot, Path stopFile, Consumer<String> log) {
        this(cfg, root, snapshotRoot, stopFile, log, CheckpointStore.Participation.solo());
    }

    /**
     * With several ranks: saves are collective (every rank calls at the same step) and synchronous (the
     * background writer would run collectives beside the training's); the stop file is read by every rank.
     */
    public CheckpointManager(CkptConfig cfg, Path root, Path snapshotRoot, Path stopFile, Consumer<String> log,
                             CheckpointStore.Participation who) {
        this.who = who;
        this.cfg = cfg;
        this.root = root;
        this.snapshotRoot = snapshotRoot;
        this.stopFile = stopFile;
        this.keepLast = cfg.keepLast();
        this.log = log;
        this.writer = cfg.asyncUpload() && !who.shared() ? Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "internlmj-checkpoint-writer");
            t.setDaemon(false);
            return t;
        }) : null;
    }

    /** Sets who is told about completed saves (on the writer thread for background saves). */
    public void onSaved(SaveListener listener) {
        this.onSaved = listener;
    }

    /** What the run should do after a step. */
    public enum Decision { CONTINUE, STOP }

    /**
     * Called after every successful step with the new step count; saves what is due and says whether the
     * stop file asks to stop. {@code capture} takes the state (copied when saving asynchronously).
     */
    public Decision afterStep(long step, long totalSteps, Supplier<CheckpointContent> plain,
                              Supplier<CheckpointContent> copied) throws IOException {
        // the main rank reads the stop file and every rank acts on its value, so all stop at the same step
        long stopAt = who.fromMain().applyAsLong(who.main() ? readStopFile() : 0);
        boolean stop = stopAt > 0 && step >= stopAt;
        boolean stopFileSave = stop || (stopAt < 0 && step == -stopAt && stopFileSavedAt != stopAt);
        if (!cfg.enableSaveCkpt() && !stopFileSave) {
            return Decision.CONTINUE;
        }
        if (step % cfg.checkpointEvery() == 0 || stopFileSave || step == totalSteps) {
            if (stopFileSave) {
                stopFileSavedAt = stopAt;
                log.accept("stop file " + stopFile + " asks for a checkpoint at step " + Math.abs(stopAt)
                        + (stop ? " and a stop" : ""));
            }
            save(root, Long.toString(step), step, plain, copied, true);
        } else if (cfg.ossSnapshotFreq() < Integer.MAX_VALUE && step % cfg.ossSnapshotFreq() == 0) {
            save(snapshotRoot, Long.toString((step / cfg.ossSnapshotFreq()) % 2), step, plain, copied, false);
        }
        return stop ? Decision.STOP : Decision.CONTINUE;
    }

    /**
     * True if {@link #afterStep} may write at this step (a periodic, snapshot or end-of-run save, or any
     * step while a stop file is configured), so the caller can finish pending updates first.
     */
    public boolean dueAt(long step, long totalSteps) {
        if (stopFile != null) {
            return true;
        }
        if (!cfg.enableSaveCkpt()) {
            return false;
        }
        return step % cfg.checkpointEvery() == 0 || step == totalSteps
                || (cfg.ossSnapshotFreq() < Integer.MAX_VALUE && step % cfg.ossSnapshotFreq() == 0);
    }

    /** Saves the state now as a normal checkpoint (unless this step was already saved). */
    public void saveNow(long step, Supplier<CheckpointContent> plain, Supplier<CheckpointContent> copied)
            throws IOException {
        if (lastSavedStep != step) {
            save(root, Long.toString(step), step, plain, copied, true);
        }
    }

    private void save(Path dir, String name, long step, Supplier<CheckpointContent> plain,
                      Supplier<CheckpointContent> copied, boolean normal) throws IOException {
        waitForPending();
        lastSavedStep = step;
        if (writer == null) {
            Path p = CheckpointStore.write(dir, name, plain.get(), who);
            if (who.main()) {
                log.accept("saved " + (normal ? "checkpoint " : "snapshot ") + p + " (step " + step + ")");
                onSaved.saved(p, step, !normal);
            }
            if (normal) {
                retain();
            }
            return;
        }
        CheckpointContent content = copied.get();
        pending = writer.submit(() -> {
            Path p = CheckpointStore.write(dir, name, content);
            log.accept("saved " + (normal ? "checkpoint " : "snapshot ") + p + " (step " + step + ", in the background)");
            onSaved.saved(p, step, !normal);
            if (normal) {
                retain();
            }
            return p;
        });
    }

    /** Deletes the oldest step checkpoints beyond {@code keep_last} (0 keeps all). */
    private void retain() throws IOException {
        if (keepLast <= 0 || !who.main()) {
            return;
        }
        List<Path> folders = CheckpointStore.stepFolders(root);
        for (int i = 0; i < folders.size() - keepLast; i++) {
            CheckpointStore.deleteTree(folders.get(i));
            log.accept("removed old checkpoint " + folders.get(i) + " (ckpt.keep_last = " + keepLast + ")");
        }
    }

    private long readStopFile() {
        if (stopFile == null || !Files.isRegularFile(stopFile)) {
            return 0;
        }
        try {
            String s = Files.readString(stopFile).trim();
            return s.isEmpty() ? 0 : Long.parseLong(s);
        } catch (IOException | NumberFormatException e) {
            log.accept("warning: stop file " + stopFile + " does not hold a step number: " + e.getMessage());
            return 0;
        }
    }

    /** Blocks until the background save (if any) has finished; rethrows its failure. */
    public void waitForPending() throws IOException {
        if (pending == null) {
            return;
        }
        try {
            pending.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting for a checkpoint to be written", e);
        } catch (java.util.concurrent.ExecutionException e) {
            throw new IOException("writing a checkpoint failed: " + e.getCause().getMessage(), e.getCause());
        } finally {
            pending = null;
        }
    }

    /** Waits for the last save; the run does not end before its checkpoints are on disk. */
    @Override
    public void close() throws IOException {
        try {
            waitForPending();
        } finally {
            if (writer != null) {
                writer.shutdown();
            }
        }
    }
}
