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
        PrintWriter out = spec.commandLine().getOut();
        TrainConfig cfg = TrainConfig.load(config, overrides);
        Path base = Path.of("").toAbsolutePath();
        ParallelContext ctx = ParallelContext.solo();
        if (Rendezvous.launched(System.getenv())) {
            // started by internlmj launch (torchrun variables), mpirun or srun: join the other ranks
            var p = cfg.parallel();
            var world = Rendezvous.fromEnvironment();
            ctx = ParallelContext.create(world, new ParallelLayout(world.size(), p.tensor(), p.pipeline(), p.zero1()));
        }
        long t0 = System.nanoTime();
        try (Trainer trainer = new Trainer(cfg, base, line -> {
            out.println(line);
            out.flush();
        }, resume, ctx)) {
            out.printf(Locale.ROOT, "model: %,d parameters (%s, %d layers, hidden %d), device %s%n",
                    trainer.model().parameterCount(), cfg.model().dtype(), cfg.model().numLayers(),
                    cfg.model().hiddenSize(), cfg.engine().device());
            trainer.fit();
            out.printf(Locale.ROOT, "trained %d steps in %s%n", trainer.state().step(),
                    String.format(Locale.ROOT, "%.1f s", (System.nanoTime() - t0) / 1e9));
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
        return 0;
    }
}
