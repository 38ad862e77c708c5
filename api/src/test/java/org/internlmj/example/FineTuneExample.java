package org.internlmj.example;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.internlmj.api.Config;
import org.internlmj.api.GenerationOptions;
import org.internlmj.api.InternLM;
import org.internlmj.api.StepMetrics;
import org.internlmj.api.Tokenizer;
import org.internlmj.api.Trainer;
import org.internlmj.api.TrainingData;
import org.internlmj.api.TrainingListener;
import org.internlmj.api.TrainingResult;

/**
 * The application docs/embedding.md shows: it fine-tunes the demo model's architecture on a handful of
 * lines, saves it, loads it back and generates. It lives in its own package so that the compiler holds it
 * to the public API, as it would an application; {@code FineTuneExampleTest} runs it.
 *
 * <p>Run: {@code java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp ...
 * org.internlmj.example.FineTuneExample configs/demo.yaml work [base-checkpoint]}
 */
public final class FineTuneExample {
    private FineTuneExample() {
    }

    /** What a run produced, for the test to check. */
    public record Outcome(List<Double> losses, TrainingResult result, String generated, List<String> streamed) {
    }

    public static void main(String[] args) throws IOException {
        Outcome o = run(Path.of(args[0]), Path.of(args[1]), args.length > 2 ? Path.of(args[2]) : null);
        System.out.println("losses: " + o.losses());
        System.out.println("generated: " + o.generated());
    }

    // [example]
    /** Fine-tunes the architecture of {@code demoYaml} on a few lines, starting from {@code base} if not null. */
    public static Outcome run(Path demoYaml, Path work, Path base) throws IOException {
        List<String> lines = List.of(
                "InternLM-J trains language models on the JVM.",
                "It runs the same YAML configs as InternLM.",
                "Checkpoints are written atomically and resume exactly.",
                "The CPU backend uses the Vector API on all cores.",
                "A small demo model trains in minutes on a laptop.",
                "Applications embed it through the org.internlmj.api package.");
        TrainingData data = TrainingData.prepare(lines, work.resolve("data"), Tokenizer.byteLevel(), 0.0);

        Config.Builder config = Config.fromFile(demoYaml).toBuilder()   // the demo's model and optimizer
                .data(data, 0)                                          // our lines, no validation split
                .seqLen(64).microBsz(4).totalSteps(8).warmupRatio(0.0)  // a short run
                .saveCkptFolder(work.resolve("ckpt")).checkpointEvery(1000)
                .runDir(work.resolve("run")).tensorboard(false);
        if (base != null) {
            config.loadModelOnlyFolder(base);                           // start from trained weights
        }

        List<Double> losses = new ArrayList<>();
        TrainingResult result;
        try (Trainer trainer = Trainer.builder(config.build())
                .listener(new TrainingListener() {
                    @Override
                    public void onStep(StepMetrics m) {
                        losses.add(m.loss());
                    }
                })
                .build()) {
            result = trainer.fit();                                     // saves <work>/ckpt/8 at the end
        }

        List<String> streamed = new ArrayList<>();
        String generated;
        try (InternLM model = InternLM.load(result.checkpoint())) {
            generated = model.generate("InternLM-J ",
                    GenerationOptions.defaults().withTemperature(0).withMaxTokens(40),
                    streamed::add);                                     // called as the text grows
        }
        return new Outcome(losses, result, generated, streamed);
    }
    // [example]
}
