package org.internlmj.api;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import org.internlmj.trainer.train.TrainingEvents;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Trains or fine-tunes a model in this process, on the device the config names, from a {@link Config}.
 * It does what {@code internlmj train} does (data, schedules, validation, checkpoints, {@code metrics.jsonl}
 * in the run folder) without touching the process: no {@code System.exit}, nothing on stdout (progress
 * lines go to the SLF4J logger {@code org.internlmj.api.Trainer}), no global settings. Several trainers
 * may run at once in one JVM, each on its own thread; on the CPU they share the kernel thread pool, so
 * they take turns with the cores but compute exactly what each would alone.
 *
 * <pre>{@code
 * Config cfg = Config.fromFile(Path.of("configs/demo.yaml")).with("data.total_steps", 100);
 * try (Trainer trainer = Trainer.builder(cfg)
 *         .listener(new TrainingListener() {
 *             public void onStep(StepMetrics m) { System.out.printf("step %d loss %.3f%n", m.step(), m.loss()); }
 *         })
 *         .build()) {
 *     TrainingResult r = trainer.fit();            // cancel() from another thread ends it early, saved
 *     System.out.println("last checkpoint: " + r.checkpoint());
 * }
 * }</pre>
 */
public final class Trainer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Trainer.class);

    private final Config config;
    private final org.internlmj.trainer.train.Trainer engine;
    private final List<TrainingListener> listeners;
    private volatile boolean cancelled;
    private volatile Path lastCheckpoint;
    private boolean started;
    private boolean closed;

    private Trainer(Config config, org.internlmj.trainer.train.Trainer engine, List<TrainingListener> listeners) {
        this.config = config;
        this.engine = engine;
        this.listeners = new CopyOnWriteArrayList<>(listeners);
        engine.events(new TrainingEvents() {
            @Override
            public void step(long step, Map<String, Object> metrics) {
                StepMetrics m = StepMetrics.of(step, metrics);
                tell(l -> l.onStep(m));
            }

            @Override
            public void validated(long step, double loss, long tokens) {
                ValidationResult v = new ValidationResult(step, loss, tokens);
                tell(l -> l.onValidation(v));
            }

            @Override
            public void checkpointSaved(Path folder, long step, boolean snapshot) {
                if (!snapshot) {
                    lastCheckpoint = folder;
                }
                CheckpointSaved c = new CheckpointSaved(step, folder, snapshot);
                tell(l -> l.onCheckpoint(c));
            }
        });
    }

    /** A trainer for {@code config} with the defaults of {@link Builder}. */
    public static Trainer create(Config config) throws IOException {
        return builder(config).build();
    }

    /** Starts building a trainer for {@code config}. */
    public static Builder builder(Config config) {
        return new Builder(Objects.requireNonNull(config, "config"));
    }

    private void tell(Consumer<TrainingListener> event) {
        for (TrainingListener l : listeners) {
            try {
                event.accept(l);
            } catch (RuntimeException e) {
                LOG.warn("training listener {} failed; training goes on", l, e);
            }
        }
    }

    /**
     * Trains until {@code data.total_steps} steps (or until {@link #cancel()}), validating and saving as
     * the config says, and saving a checkpoint at the end when saving is enabled. Runs once per trainer.
     *
     * @throws IllegalStateException if it already ran or the trainer is closed
     * @throws IOException           if reading data or writing a checkpoint fails
     */
    public TrainingResult fit() throws IOException {
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("the trainer is closed");
            }
            if (started) {
                throw new IllegalStateException("fit() runs once per trainer; build a new one (resuming from its "
                        + "checkpoint) to train further");
            }
            started = true;
        }
        double loss = engine.fit();
        long steps = engine.state().step();
        return new TrainingResult(steps, loss, engine.lastValidLoss(),
                cancelled && steps < config.internal().data().totalSteps(), lastCheckpoint);
    }

    /**
     * Ends {@link #fit()} early, from any thread: the step running now is finished, a checkpoint is saved
     * (when saving is enabled) and {@code fit()} returns with {@link TrainingResult#cancelled()} true.
     * Before {@code fit()} starts, it makes {@code fit()} train no step.
     */
    public void cancel() {
        cancelled = true;
        engine.requestStop();
    }

    /** True once {@link #cancel()} was called. */
    public boolean isCancelled() {
        return cancelled;
    }

    /** Adds a listener; it hears about every event from now on. */
    public void addListener(TrainingListener listener) {
        listeners.add(Objects.requireNonNull(listener, "listener"));
    }

    /** Removes a listener added before. */
    public void removeListener(TrainingListener listener) {
        listeners.remove(listener);
    }

    /** The config this trainer runs. */
    public Config config() {
        return config;
    }

    /** Number of weights of the model being trained. */
    public long parameterCount() {
        return engine.model().parameterCount();
    }

    /**
     * Waits for a checkpoint still being written, then releases files and threads. Call it after
     * {@link #fit()} has returned (to stop a running fit, {@link #cancel()} it first).
     */
    @Override
    public void close() throws IOException {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        engine.close();
    }

    /**
     * Options of a {@link Trainer} beyond its config.
     *
     * <pre>{@code
     * Trainer t = Trainer.builder(cfg).baseDirectory(Path.of("/srv/training")).resumeLatest().build();
     * }</pre>
     */
    public static final class Builder {
        private final Config config;
        private Path base;
        private String resume;
        private final List<TrainingListener> listeners = new ArrayList<>();

        private Builder(Config config) {
            this.config = config;
        }

        /**
         * The folder relative paths in the config (data, checkpoints, run folder) are resolved against;
         * the working directory by default.
         */
        public Builder baseDirectory(Path dir) {
            this.base = dir;
            return this;
        }

        /** Adds a listener from the start (construction itself reports nothing). */
        public Builder listener(TrainingListener listener) {
            listeners.add(Objects.requireNonNull(listener, "listener"));
            return this;
        }

        /**
         * Continues from the newest complete checkpoint under {@code ckpt.save_ckpt_folder} (snapshots
         * included) if there is one, else starts from scratch.
         */
        public Builder resumeLatest() {
            this.resume = "latest";
            return this;
        }

        /** Continues from this checkpoint folder: weights, optimizer, schedules, data position. */
        public Builder resumeFrom(Path checkpoint) {
            this.resume = checkpoint.toString();
            return this;
        }

        /**
         * Builds the model (initialised, or loaded as the config's {@code ckpt} section or the resume
         * option says), opens the data and the run folder.
         *
         * @throws IllegalArgumentException if the data or a checkpoint does not fit the config
         * @throws IOException              if reading fails
         */
        public Trainer build() throws IOException {
            Path dir = (base == null ? Path.of("") : base).toAbsolutePath();
            var engine = new org.internlmj.trainer.train.Trainer(config.internal(), dir, line -> {
                if (line.startsWith("warning: ")) {
                    LOG.warn(line.substring("warning: ".length()));
                } else {
                    LOG.info(line);
                }
            }, resume);
            return new Trainer(config, engine, listeners);
        }
    }
}
