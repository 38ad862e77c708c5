package org.internlmj.trainer.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import org.internlmj.nn.InternLMModel;
import org.internlmj.tensor.Device;
import org.internlmj.trainer.ckpt.CheckpointStore;
import org.internlmj.trainer.config.ConfigTree;
import org.internlmj.trainer.config.TrainConfig;
import org.internlmj.trainer.generate.TextGenerator;
import org.internlmj.trainer.tokenizer.Tokenizer;
import org.internlmj.trainer.train.ModelFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code internlmj generate --ckpt DIR --prompt TEXT}: samples text from a checkpoint. */
@Command(name = "generate", mixinStandardHelpOptions = true, description = "Generate text from a checkpoint.")
final class GenerateCommand implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--ckpt", required = true, description = "A checkpoint folder (e.g. llm_ckpts/600).")
    Path ckpt;

    @Option(names = "--prompt", required = true, description = "The text to continue.")
    String prompt;

    @Option(names = "--max-tokens", defaultValue = "200", description = "Tokens to generate. Default: ${DEFAULT-VALUE}.")
    int maxTokens;

    @Option(names = "--temperature", defaultValue = "0.8", description = "0 = greedy. Default: ${DEFAULT-VALUE}.")
    double temperature;

    @Option(names = "--top-k", defaultValue = "40", description = "0 = no limit. Default: ${DEFAULT-VALUE}.")
    int topK;

    @Option(names = "--top-p", defaultValue = "1.0", description = "Nucleus sampling mass. Default: ${DEFAULT-VALUE}.")
    double topP;

    @Option(names = "--seed", defaultValue = "1234", description = "Sampling seed. Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu or cuda:N. Default: ${DEFAULT-VALUE}.")
    String device;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        CheckpointStore.Loaded c = CheckpointStore.open(ckpt);
        TrainConfig cfg = TrainConfig.from(ConfigTree.parse(c.config().toString(), ckpt + "/meta.json config", List.of()));
        Device d = Device.parse(device);
        InternLMModel model = new InternLMModel(ModelFactory.spec(cfg.model()), d);
        CheckpointStore.loadModel(c, model);
        String tok = c.tokenizer();
        try (Tokenizer tokenizer = Tokenizer.load(tok)) {
            out.print(prompt);
            new TextGenerator(model, tokenizer, d).generate(prompt,
                    new TextGenerator.Options(maxTokens, temperature, topK, topP, seed), s -> {
                        out.print(s);
                        out.flush();
                    });
            out.println();
        }
        return 0;
    }
}
