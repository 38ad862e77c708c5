package org.internlmj.trainer.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.internlmj.dist.ParallelContext;
import org.internlmj.dist.ParallelLayout;
import org.internlmj.dist.Rendezvous;
import org.internlmj.tensor.Device;
import org.internlmj.trainer.config.TrainConfig;
import org.internlmj.trainer.generate.TextGenerator;
import org.internlmj.trainer.train.Trainer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code internlmj train CONFIG}: trains a model from an InternLM-style YAML config. */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = "Train a model from a YAML config with InternLM's sections and keys.")
final class TrainCommand implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Parameters(index = "0", paramLabel = "CONFIG", description = "The YAML config (e.g. configs/demo.yaml).")
    Path config;

    @Option(names = "--set", paramLabel = "KEY=VALUE",
            description = "Override a config key, e.g. --set data.total_steps=100 (repeatable).")
    List<String> overrides = new ArrayList<>();

    @Option(names = "--resume", paramLabel = "latest|DIR",
            description = "Resume from the newest complete checkpoint in ckpt.save_ckpt_folder (latest) or from DIR.")
    String resume;

    @Override
    public Integer call() throws Exception {
        TrainConfig cfg = TrainConfig.load(config, overrides);
        if (!Rendezvous.launched(System.getenv())) {
            train(cfg, ParallelContext.solo());
            return 0;
        }
        // started by internlmj launch (torchrun variables), mpirun or srun: join the other ranks
        var p = cfg.parallel();
        var world = Rendezvous.fromEnvironment();
        ParallelContext ctx = ParallelContext.create(world, new ParallelLayout(world.size(), p.tensor(), p.pipeline(),
                p.zero1()));
        try {
            train(cfg, ctx);
        } catch (Exception | Error e) {
            // the other ranks would wait for this one in their next collective: end the process now so the
            // launcher (or mpirun) sees the failure, names this rank and stops the job
            PrintWriter err = spec.commandLine().getErr();
            err.println("rank " + world.rank() + " failed: " + (e.getMessage() == null ? e.toString() : e.getMessage()));
            err.flush();
            spec.commandLine().getOut().flush();
            Runtime.getRuntime().halt(1);
        }
        ctx.close();
        world.close(); // MPI: MPI_Finalize, which a clean exit needs
        return 0;
    }

    private void train(TrainConfig cfg, ParallelContext ctx) throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        Path base = Path.of("").toAbsolutePath();
        long t0 = System.nanoTime();
        try (Trainer trainer = new Trainer(cfg, base, line -> {
            out.println(line);
            out.flush();
        }, resume, ctx)) {
            if (ctx.isMain()) {
                out.printf(Locale.ROOT, "model: %,d parameters (%s, %d layers, hidden %d), device %s, %d rank%s%n",
                        trainer.model().parameterCount(), cfg.model().dtype(), cfg.model().numLayers(),
                        cfg.model().hiddenSize(), cfg.engine().device(), ctx.world().size(), ctx.world().size() == 1 ? "" : "s");
            }
            trainer.fit();
            if (ctx.isMain()) {
                out.printf(Locale.ROOT, "trained %d steps in %.1f s%n", trainer.state().step(),
                        (System.nanoTime() - t0) / 1e9);
            }
            if (cfg.engine().samplePrompt() != null && ctx.isMain()) {
                out.println("sample (" + cfg.engine().sampleTokens() + " tokens, temperature 0.8, top-k 40):");
                out.print(cfg.engine().samplePrompt());
                new TextGenerator(trainer.model(), trainer.tokenizer(), Device.parse(cfg.engine().device())).generate(
                        cfg.engine().samplePrompt(),
                        new TextGenerator.Options(cfg.engine().sampleTokens(), 0.8, 40, 1.0, cfg.engine().seed()),
                        s -> {
                            out.print(s);
                            out.flush();
                        });
                out.println();
            }
        }
    }
}
