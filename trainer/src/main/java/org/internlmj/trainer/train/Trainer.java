package org.internlmj.trainer.train;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;
import org.internlmj.autograd.F;
import org.internlmj.autograd.NoGrad;
import org.internlmj.autograd.Reduction;
import org.internlmj.autograd.Variable;
import org.internlmj.dist.GradScaler;
import org.internlmj.dist.HybridZeroOptimizer;
import org.internlmj.dist.ParallelContext;
import org.internlmj.dist.pipeline.PipelinePartition;
import org.internlmj.nn.InternLMModel;
import org.internlmj.nn.Parameter;
import org.internlmj.nn.TensorParallel;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.MemoryScope;
import org.internlmj.tensor.Tensor;
import java.util.Set;
import java.util.TreeSet;
import org.internlmj.trainer.ckpt.CheckpointContent;
import org.internlmj.trainer.ckpt.CheckpointManager;
import org.internlmj.trainer.ckpt.CheckpointStore;
import org.internlmj.trainer.ckpt.HfCheckpoint;
import org.internlmj.trainer.ckpt.TrainState;
import org.internlmj.trainer.config.TrainConfig;
import org.internlmj.trainer.data.BatchSampler;
import org.internlmj.trainer.data.ConcatDataset;
import org.internlmj.trainer.data.MicroBatch;
import org.internlmj.trainer.data.PackedDataset;
import org.internlmj.trainer.data.Prepare;
import org.internlmj.trainer.data.RandomDocuments;
import org.internlmj.trainer.metrics.MetricsLog;
import org.internlmj.trainer.schedule.Beta2Schedule;
import org.internlmj.trainer.schedule.LrSchedule;
import org.internlmj.trainer.tokenizer.Tokenizer;

/**
 * The training loop of one rank: per step, {@code micro_num} packed micro-batches each contributing
 * {@code loss / micro_num} (InternLM's gradient accumulation), one optimizer update with the scheduled LR
 * and beta2, a line of metrics, validation every {@code valid_every} steps and checkpoints every
 * {@code checkpoint_every} steps. Activations of a step live in a memory scope closed at its end. The ranks
 * of a tensor-parallel group hold parts of one model replica and see the same micro-batches.
 */
public final class Trainer implements AutoCloseable {
    private final TrainConfig cfg;
    private final Path base;
    private final Consumer<String> out;
    private final ParallelContext ctx;
    private final Device device;
    private final Tokenizer tokenizer;
    private final InternLMModel model;
    private final HybridZeroOptimizer optimizer;
    /** Null without pipeline parallelism. */
    private final PipelineTraining pipeline;
    private final LrSchedule lr;
    private final Beta2Schedule beta2;
    private final ConcatDataset train;
    private final ConcatDataset valid;
    private final RandomDocuments randomTrain;
    private final PackedDataset randomPacked;
    private final BatchSampler sampler;
    private final Path runDir;
    private final MetricsLog metrics;
    private final CheckpointManager checkpoints;
    private TrainState state;
    private double lastValidLoss = Double.NaN;
    private volatile TrainingEvents events = TrainingEvents.NONE;
    private volatile boolean stopRequested;

    /** Builds everything a run needs; relative paths in the config are resolved against {@code base}. */
    public Trainer(TrainConfig cfg, Path base, Consumer<String> out) throws IOException {
        this(cfg, base, out, null);
    }

    /**
     * As above; {@code resume} is null (follow the config), {@code "latest"} (the newest complete checkpoint
     * under the save folder, snapshots included) or a checkpoint folder.
     */
    public Trainer(TrainConfig cfg, Path base, Consumer<String> out, String resume) throws IOException {
        this(cfg, base, out, resume, ParallelContext.solo());
    }

    /**
     * One rank of a data-parallel run: every rank of {@code ctx.world()} constructs its trainer with the same
     * config at the same time (construction and training are collective). Only the main rank prints and
     * writes metrics; {@code out} receives nothing on the other ranks.
     */
    public Trainer(TrainConfig cfg, Path base, Consumer<String> out, String resume, ParallelContext ctx)
            throws IOException {
        this.cfg = cfg;
        this.base = base;
        this.ctx = ctx;
        this.out = ctx.isMain() ? out : s -> { };
        if (ctx.layout().tensor() != cfg.parallel().tensor()) {
            throw new IllegalArgumentException("parallel.tensor = " + cfg.parallel().tensor() + " but this run has "
                    + ctx.world().size() + " rank(s) with tensors split over " + ctx.layout().tensor()
                    + ": start it on a multiple of parallel.tensor ranks (internlmj launch --nproc N, mpirun -np N, srun)");
        }
        this.device = Device.parse(cfg.engine().device());
        this.tokenizer = Tokenizer.load(resolveTokenizer(cfg.engine().tokenizer()));
        boolean usesTokenizer = cfg.engine().autoPrepare() != null || cfg.engine().samplePrompt() != null;
        if (usesTokenizer && tokenizer.vocabSize() > cfg.model().vocabSize()) {
            throw new IllegalArgumentException("the tokenizer (" + tokenizer.name() + ") has " + tokenizer.vocabSize()
                    + " ids but model.vocab_size is " + cfg.model().vocabSize());
        }
        if (ctx.isMain()) {
            autoPrepare();
        }
        ctx.world().barrier();
        PackedDataset.Mode mode = !cfg.model().useFlashAttn() ? PackedDataset.Mode.UNPACKED
                : cfg.data().packSampleIntoOne() ? PackedDataset.Mode.PACK_SAMPLE_INTO_ONE : PackedDataset.Mode.PACKED;
        long seed = cfg.engine().seed();
        if (cfg.data().trainFolder() != null) {
            this.train = ConcatDataset.open(resolve(cfg.data().trainFolder()), cfg.data().seqLen(), cfg.data().microBsz(),
                    cfg.data().minLength(), mode, seed);
            this.randomTrain = null;
            this.randomPacked = null;
        } else {
            // InternLM's RandomDataset stand-in: dummy documents when no train_folder is configured
            this.train = null;
            this.randomTrain = new RandomDocuments(seed, 100_000, cfg.data().seqLen(), cfg.model().vocabSize());
            this.randomPacked = new PackedDataset(randomTrain, cfg.data().seqLen(), cfg.data().microBsz(), 0, mode, seed);
        }
        this.valid = cfg.data().validFolder() != null && cfg.data().validEvery() > 0
                ? ConcatDataset.open(resolve(cfg.data().validFolder()), cfg.data().seqLen(), cfg.data().microBsz(), 0,
                mode, seed) : null;
        int trainSize = train != null ? train.size() : randomPacked.size();
        this.sampler = new BatchSampler(trainSize, cfg.data().microNum(), cfg.data().rampupBatchSize(), ctx.dataRank(),
                ctx.layout().data(), seed, true);

        // chunks only matter between pipeline stages: one process runs an interleaved config's model whole
        int chunks = ctx.layout().pipeline() > 1 ? cfg.model().numChunks() : 1;
        this.model = new InternLMModel(ModelFactory.spec(cfg.model()), device,
                new TensorParallel(ctx.tensor(), cfg.parallel().sequenceParallel()),
                new PipelinePartition(cfg.model().numLayers(), ctx.layout().pipeline(), chunks), ctx.pipelineRank());
        model.initialize(seed);
        var gs = cfg.gradScaler();
        GradScaler scaler = cfg.model().dtype() == DType.F32 ? GradScaler.constant()
                : new GradScaler(gs.initialScale(), gs.minScale(), gs.growthInterval(), gs.growthFactor(),
                gs.backoffFactor(), gs.maxScale(), gs.hysteresis());
        var hz = cfg.hybridZero();
        List<Parameter> params = model.parameters();
        boolean[] replicated = new boolean[params.size()];
        for (int i = 0; i < replicated.length; i++) {
            // whole on every tensor rank: counted once in the gradient norm
            replicated[i] = params.get(i).split() == null;
        }
        this.optimizer = new HybridZeroOptimizer(params.stream().map(Parameter::variable).toList(),
                params.stream().map(Parameter::name).toList(), replicated,
                new HybridZeroOptimizer.Settings(cfg.adam().beta1(), cfg.adam().eps(), cfg.adam().weightDecay(),
                        hz.clipGradNorm(), hz.reduceBucketSize(), hz.overlapSyncGrad(), hz.overlapSyncParam(),
                        hz.useSplitTensorOptim()), scaler, ctx.optimizerGroups());
        this.pipeline = ctx.layout().pipeline() > 1
                ? new PipelineTraining(ctx, model, optimizer, cfg.parallel().interleavedOverlap(), device) : null;
        var l = cfg.lrScheduler();
        this.lr = new LrSchedule(cfg.adam().lr(), l.totalSteps(), l.initSteps(), l.warmupRatio(), l.etaMin());
        var b = cfg.beta2Scheduler();
        this.beta2 = new Beta2Schedule(cfg.adam().beta2(), b.initBeta2(), b.c(), b.curIter());
        this.runDir = resolve(cfg.engine().runDir());
        this.metrics = ctx.isMain() ? new MetricsLog(runDir, cfg.engine().tensorboard()) : null;
        this.state = new TrainState(0, 0, 0, 0, sampler.state(), scaler.state());
        var ck = cfg.ckpt();
        this.checkpoints = new CheckpointManager(ck, ck.saveCkptFolder() == null ? null : resolve(ck.saveCkptFolder()),
                ck.snapshotCkptFolder() == null ? null : resolve(ck.snapshotCkptFolder()),
                ck.stopFilePath() == null ? null : resolve(ck.stopFilePath()), this.out, participation());
        load(resume);
    }

    private String resolveTokenizer(String spec) {
        return spec.equals("byte") ? spec : resolve(spec).toString();
    }

    private Path resolve(String p) {
        Path path = Path.of(p);
        return path.isAbsolute() ? path : base.resolve(path);
    }

    /** Builds the data folders from the configured sources when they do not exist yet. */
    private void autoPrepare() throws IOException {
        var ap = cfg.engine().autoPrepare();
        if (ap == null || cfg.data().trainFolder() == null) {
            return;
        }
        Path trainFolder = resolve(cfg.data().trainFolder());
        if (Files.isDirectory(trainFolder)) {
            return;
        }
        Path root = trainFolder.getParent();
        if (!trainFolder.getFileName().toString().equals("train")
                || (cfg.data().validFolder() != null && !resolve(cfg.data().validFolder()).equals(root.resolve("valid")))) {
            throw new IllegalArgumentException("internlmj.auto_prepare writes <folder>/train and <folder>/valid: set "
                    + "data.train_folder to .../train and data.valid_folder to the sibling .../valid");
        }
        out.accept("preparing " + root + " from " + String.join(", ", ap.sources()) + " (first run) ...");
        List<Path> files = Prepare.expand(ap.sources(), base);
        Prepare.Result r = Prepare.run(files, root, tokenizer, ap.validFraction(), "text", "data", false, n -> { });
        out.accept(String.format(Locale.ROOT, "prepared %d files: train %d documents / %,d tokens, valid %d documents / %,d tokens",
                files.size(), r.trainDocuments(), r.trainTokens(), r.validDocuments(), r.validTokens()));
    }

    /**
     * What to load, in InternLM's order of precedence: the newest checkpoint in the save folder (with
     * {@code --resume latest} or {@code ckpt.auto_resume}, when there is one), else {@code --resume PATH},
     * else {@code load_ckpt_info} (the listed content), else {@code load_ckpt_folder} (everything), else
     * {@code load_model_only_folder} (weights only).
     */
    private void load(String resume) throws IOException {
        var ck = cfg.ckpt();
        Path saveRoot = ck.saveCkptFolder() == null ? null : resolve(ck.saveCkptFolder());
        Path snapshots = ck.snapshotCkptFolder() == null ? null : resolve(ck.snapshotCkptFolder());
        Optional<CheckpointStore.Loaded> latest = Optional.empty();
        if ("latest".equals(resume) || (resume == null && ck.autoResume())) {
            latest = CheckpointStore.latest(saveRoot, snapshots, w -> out.accept("warning: " + w));
            if (latest.isEmpty() && "latest".equals(resume)) {
                out.accept("--resume latest: no complete checkpoint under " + saveRoot + "; starting from scratch");
            }
        }
        if (latest.isPresent()) {
            restore(latest.get(), Set.of("all"));
        } else if (resume != null && !"latest".equals(resume)) {
            restore(CheckpointStore.open(resolve(resume)), Set.of("all"));
        } else if (ck.loadCkptInfo() != null && ck.loadCkptInfo().path() != null) {
            var info = ck.loadCkptInfo();
            if (info.ckptType().toLowerCase(Locale.ROOT).startsWith("hf")) {
                HfCheckpoint.importInto(resolve(info.path()), model, cfg.model().numLayers(), cfg.model().hiddenSize());
                optimizer.reloadMasters();
                out.accept("initialised weights from the HuggingFace checkpoint " + resolve(info.path()));
            } else {
                restore(CheckpointStore.open(resolve(info.path())), info.content());
            }
        } else if (ck.loadCkptFolder() != null) {
            restore(CheckpointStore.open(resolve(ck.loadCkptFolder())), Set.of("all"));
        } else if (ck.loadModelOnlyFolder() != null) {
            restore(CheckpointStore.open(resolve(ck.loadModelOnlyFolder())), Set.of("model"));
        }
    }

    private void restore(CheckpointStore.Loaded c, Set<String> content) throws IOException {
        boolean all = content.contains("all");
        TrainState s = c.state();
        CheckpointStore.loadModel(c, model, ctx.layout().pipeline() == 1);
        boolean optimizerState = (all || content.contains("optimizer")) && cfg.ckpt().loadOptimizer() && c.hasOptimizer();
        if (optimizerState) {
            CheckpointStore.loadOptimizer(c, model, optimizer);
            if (s.scaler() != null) {
                optimizer.scaler().restore(s.scaler());
            }
        } else {
            optimizer.reloadMasters();
        }
        long step = all || content.contains("scheduler") ? s.step() : 0;
        long batches = 0;
        long tokens = 0;
        long skipped = all ? s.skippedSteps() : 0;
        if ((all || content.contains("sampler")) && s.sampler() != null) {
            sampler.restore(s.sampler());
            batches = s.batchCount();
            tokens = s.consumedTokens();
        }
        this.state = new TrainState(step, batches, tokens, skipped, sampler.state(), optimizer.scaler().state());
        out.accept((all ? "resumed from " : "loaded " + String.join(", ", new TreeSet<>(content)) + " from ") + c.folder()
                + " at step " + s.step());
    }

    public InternLMModel model() {
        return model;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    public TrainState state() {
        return state;
    }

    /** Time blocked on gradient/parameter communication since the last reset (see the optimizer). */
    public long commWaitNanos() {
        return optimizer.commWaitNanos();
    }

    public void resetCommWait() {
        optimizer.resetCommWait();
    }

    public ParallelContext parallel() {
        return ctx;
    }

    /** Bytes of optimizer state (fp32 masters and moments) this rank holds. */
    public long optimizerStateBytes() {
        return optimizer.stateBytes();
    }

    /** Sends this run's step metrics, validation results and saved checkpoints to {@code events} (main rank). */
    public void events(TrainingEvents events) {
        this.events = events;
        checkpoints.onSaved(events::checkpointSaved);
    }

    /**
     * Asks {@link #fit} to stop after the step it is running (or before the first, if it has not started):
     * it finishes that step, skips the final validation, saves a checkpoint when saving is enabled and
     * returns. Safe from any thread. With
     * several ranks every rank must ask at the same step (the stop file is the way to reach them all).
     */
    public void requestStop() {
        stopRequested = true;
    }

    /** Last validation loss (nats per target token), NaN before the first validation. */
    public double lastValidLoss() {
        return lastValidLoss;
    }

    private MicroBatch microBatch(int index) {
        return train != null ? train.get(index) : randomPacked.get(index);
    }

    /** Trains until {@code data.total_steps} successful steps; returns the last step's loss. */
    public double fit() throws IOException {
        return fit(cfg.data().totalSteps());
    }

    /**
     * Trains until {@code stopAt} successful steps (at most {@code data.total_steps}; the schedules still
     * span {@code total_steps}), saving a checkpoint at the end when saving is enabled; returns the last
     * step's loss.
     */
    public double fit(long stopAt) throws IOException {
        int total = cfg.data().totalSteps();
        long until = Math.min(stopAt, total);
        // InternLM's TFLOPS are per GPU: a data-parallel replica's FLOPs shared by its tensor (x pipeline) ranks
        double stepFlops = Flops.internlmStepFlops(cfg) * ctx.layout().data() / ctx.world().size();
        long started = System.nanoTime();
        long stepsAtStart = state.step();
        double lastLoss = Double.NaN;
        int dp = ctx.layout().data();
        while (state.step() < until && !stopRequested) {
            long t0 = System.nanoTime();
            int[] batch = sampler.next();
            optimizer.awaitParameters(); // with overlap_sync_param the last step's broadcasts end here
            long batchCount = state.batchCount() + 1;
            long tokens = 0;
            if (cfg.data().skips(batchCount - 1)) {
                for (int idx : batch) {
                    tokens += microBatch(idx).tokens().length;
                }
                state = new TrainState(state.step(), batchCount, state.consumedTokens() + tokens * dp, state.skippedSteps(),
                        sampler.state(), optimizer.scaler().state());
                out.accept("skipping batch " + (batchCount - 1) + " (data.skip_batches)");
                continue;
            }
            double loss = 0;
            long targets = 0;
            double lossScale = optimizer.lossScale();
            try (MemoryScope scope = MemoryScope.open()) {
                if (pipeline != null) {
                    long p0 = System.nanoTime();
                    List<Inputs> ins = new java.util.ArrayList<>();
                    for (int idx : batch) {
                        MicroBatch mb = microBatch(idx);
                        tokens += mb.tokens().length;
                        targets += mb.targetCount();
                        ins.add(inputs(mb));
                    }
                    phaseNanos[Phase.DATA.ordinal()] += System.nanoTime() - p0;
                    PipelineTraining.Step st = pipeline.train(ins, cfg.loss().labelSmoothing(), lossScale);
                    loss = st.loss();
                    phaseNanos[Phase.FORWARD.ordinal()] += st.timings().forwardNanos();
                    phaseNanos[Phase.BACKWARD.ordinal()] += st.timings().backwardNanos();
                    phaseNanos[Phase.PIPELINE_WAIT.ordinal()] += st.timings().waitNanos();
                }
                for (int k = 0; pipeline == null && k < batch.length; k++) {
                    long p0 = System.nanoTime();
                    MicroBatch mb = microBatch(batch[k]);
                    tokens += mb.tokens().length;
                    targets += mb.targetCount();
                    Inputs in = inputs(mb);
                    long p1 = System.nanoTime();
                    Variable l = forwardLoss(in, cfg.loss().labelSmoothing(), Reduction.MEAN);
                    loss += l.data().item() / batch.length;
                    long p2 = System.nanoTime();
                    // InternLM syncs gradients during the last micro-batch's backward only
                    optimizer.syncGradientsInNextBackward(k == batch.length - 1);
                    F.scale(l, lossScale / batch.length).backward();
                    long p3 = System.nanoTime();
                    phaseNanos[Phase.DATA.ordinal()] += p1 - p0;
                    phaseNanos[Phase.FORWARD.ordinal()] += p2 - p1;
                    phaseNanos[Phase.BACKWARD.ordinal()] += p3 - p2;
                }
            }
            if (dp > 1) {
                loss = averageOverData(loss);
            }
            long step = state.step();
            double rate = lr.lr(step);
            double b2 = beta2.beta2(step);
            long o0 = System.nanoTime();
            HybridZeroOptimizer.StepResult r = optimizer.step(rate, b2);
            phaseNanos[Phase.OPTIMIZER.ordinal()] += System.nanoTime() - o0;
            long newStep = r.applied() ? step + 1 : step;
            state = new TrainState(newStep, batchCount, state.consumedTokens() + tokens * dp,
                    state.skippedSteps() + (r.applied() ? 0 : 1), sampler.state(), optimizer.scaler().state());
            double seconds = (System.nanoTime() - t0) / 1e9;
            lastLoss = loss;
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("loss", loss);
            m.put("lr", rate);
            m.put("grad_norm", r.gradNorm());
            m.put("loss_scale", r.lossScale());
            m.put("tokens_per_s", tokens * dp / seconds);
            m.put("tgs", (double) tokens * dp / ctx.world().size() / seconds); // InternLM: tokens per GPU per second
            m.put("tflops", stepFlops / seconds / 1e12);
            m.put("step_time_s", seconds);
            m.put("tokens", tokens * dp);
            m.put("targets", targets);
            m.put("adam_beta2", b2);
            m.put("skipped", !r.applied());
            if (metrics != null) {
                metrics.record(step, m);
                events.step(step, m);
            }
            if (!r.applied()) {
                out.accept(String.format(Locale.ROOT, "step %d skipped: gradients hold %s (loss scale %.0f -> %.0f)", step,
                        r.gradNorm() == -2 ? "NaN" : "inf", r.lossScale(), optimizer.lossScale()));
            } else if (step % cfg.engine().logEvery() == 0 || newStep == until) {
                double elapsed = (System.nanoTime() - started) / 1e9;
                double perStep = elapsed / Math.max(1, newStep - stepsAtStart);
                out.accept(String.format(Locale.ROOT,
                        "step %d/%d | loss %.4f | lr %.3e | grad_norm %.3f | %,.0f tok/s | %.3f TFLOP/s | %.0f ms | ETA %s",
                        step, total, loss, rate, r.gradNorm(), tokens * dp / seconds, stepFlops / seconds / 1e12,
                        seconds * 1000, duration((until - newStep) * perStep)));
            }
            if (r.applied() && valid != null && newStep % cfg.data().validEvery() == 0) {
                optimizer.awaitParameters();
                validate(newStep);
            }
            if (r.applied() && checkpoints.dueAt(newStep, total)) {
                optimizer.awaitParameters(); // a checkpoint holds the updated weights
            }
            if (r.applied() && checkpoints.afterStep(newStep, total, () -> capture(false), () -> capture(true))
                    == CheckpointManager.Decision.STOP) {
                out.accept("stopping at step " + newStep + " as the stop file asks");
                break;
            }
        }
        if (stopRequested) {
            out.accept("stopped at step " + state.step() + " as requested");
        }
        optimizer.awaitParameters();
        if (valid != null && !stopRequested && state.step() % cfg.data().validEvery() != 0) {
            validate(state.step());
        }
        if (cfg.ckpt().enableSaveCkpt()) {
            checkpoints.saveNow(state.step(), () -> capture(false), () -> capture(true));
        }
        checkpoints.waitForPending();
        return lastLoss;
    }

    private double averageOverData(double value) {
        Tensor t = Tensor.of(new float[] {(float) value}, 1);
        ctx.data().allReduce(t, org.internlmj.dist.ProcessGroup.ReduceOp.AVG).await();
        return t.item();
    }

    /** How this rank takes part in checkpoints. */
    private CheckpointStore.Participation participation() {
        if (ctx.world().size() == 1) {
            return CheckpointStore.Participation.solo();
        }
        int zeroIndex = ctx.dataRank() < ctx.layout().zero() ? ctx.zero().rank() : -1;
        return new CheckpointStore.Participation(ctx.isMain(), ctx.dataRank() == 0, zeroIndex, ctx.world()::barrier,
                true, ctx.layout().data(), ctx.layout().zero(), v -> {
                    Tensor t = Tensor.ofLongs(new long[] {v}, 1);
                    ctx.world().broadcast(t, 0).await();
                    return t.toLongArray()[0];
                }, ctx.tensorRank(), ctx.layout().tensor(), ctx.pipelineRank(), ctx.layout().pipeline());
    }

    /** A micro-batch's tensors on the training device. */
    record Inputs(Tensor ids, Tensor positions, Tensor cuSeqlens, Tensor labels, int targets) {
    }

    private Inputs inputs(MicroBatch mb) {
        return new Inputs(Tensor.ofInts(mb.tokens(), mb.tokens().length).to(device),
                Tensor.ofInts(mb.positions(), mb.positions().length).to(device),
                Tensor.ofInts(mb.cuSeqlens(), mb.cuSeqlens().length).to(device),
                Tensor.ofInts(mb.labels(), mb.labels().length).to(device), mb.targetCount());
    }

    /**
     * Cross-entropy over the micro-batch's target tokens (InternLM's FlashGPTLMLoss: mean); vocabulary-parallel
     * over the tensor group when the logits are split.
     */
    private Variable forwardLoss(Inputs in, double smoothing, Reduction reduction) {
        return loss(model, model.forward(in.ids(), in.positions(), in.cuSeqlens()), in, smoothing, reduction);
    }

    /** The loss of a micro-batch's logits (also on the last pipeline stage): vocabulary-parallel when they are split. */
    static Variable loss(InternLMModel model, Variable logits, Inputs in, double smoothing, Reduction reduction) {
        return model.loss(logits, in.labels(), MicroBatch.IGNORE, smoothing, reduction);
    }

    /**
     * Where step time goes, as the throughput benchmark reports it; {@code PIPELINE_WAIT} is time a pipeline
     * stage is blocked on activations or gradients of its neighbours.
     */
    public enum Phase { DATA, FORWARD, BACKWARD, OPTIMIZER, PIPELINE_WAIT }

    private final long[] phaseNanos = new long[Phase.values().length];

    /** Time spent per phase since the start or the last {@link #resetPhases()}. */
    public java.util.Map<Phase, Long> phaseNanos() {
        java.util.Map<Phase, Long> m = new java.util.EnumMap<>(Phase.class);
        for (Phase p : Phase.values()) {
            m.put(p, phaseNanos[p.ordinal()]);
        }
        return m;
    }

    public void resetPhases() {
        java.util.Arrays.fill(phaseNanos, 0);
    }

    /** Loss per target token over the whole validation set. */
    public double validate(long step) throws IOException {
        long t0 = System.nanoTime();
        double sum = 0;
        long count = 0;
        try (NoGrad ng = NoGrad.enter()) {
            for (int i = ctx.dataRank(); i < valid.size(); i += ctx.layout().data()) {
                try (MemoryScope scope = MemoryScope.open()) {
                    Inputs in = inputs(valid.get(i));
                    sum += pipeline != null ? pipeline.validationSum(in) : forwardLoss(in, 0.0, Reduction.SUM).data().item();
                    count += in.targets();
                }
            }
        }
        if (ctx.layout().data() > 1) {
            Tensor t = Tensor.of(new double[] {sum, count}, 2);
            ctx.data().allReduce(t, org.internlmj.dist.ProcessGroup.ReduceOp.SUM).await();
            sum = t.toDoubleArray()[0];
            count = (long) t.toDoubleArray()[1];
        }
        lastValidLoss = count == 0 ? Double.NaN : sum / count;
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("valid_loss", lastValidLoss);
        m.put("valid_tokens", count);
        if (metrics != null) {
            metrics.record(step, m);
            events.validated(step, lastValidLoss, count);
        }
        out.accept(String.format(Locale.ROOT, "validation at step %d: loss %.4f nats/token over %,d tokens (%.1f s)", step,
                lastValidLoss, count, (System.nanoTime() - t0) / 1e9));
        return lastValidLoss;
    }

    private CheckpointContent capture(boolean copy) {
        return CheckpointContent.capture(state, model, optimizer, cfg.tree().raw(), cfg.engine().tokenizer(), copy);
    }

    static String duration(double seconds) {
        long s = Math.round(seconds);
        if (s < 60) {
            return s + "s";
        }
        if (s < 3600) {
            return (s / 60) + "m" + String.format(Locale.ROOT, "%02d", s % 60) + "s";
        }
        return (s / 3600) + "h" + String.format(Locale.ROOT, "%02d", (s % 3600) / 60) + "m";
    }

    @Override
    public void close() throws IOException {
        checkpoints.close();
        if (metrics != null) {
            metrics.close();
        }
        if (train != null) {
            train.close();
        }
        if (valid != null) {
            valid.close();
        }
        tokenizer.close();
    }
}
