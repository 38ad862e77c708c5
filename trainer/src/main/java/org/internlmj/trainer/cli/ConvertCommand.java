package org.internlmj.trainer.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.internlmj.tensor.MemoryScope;
import org.internlmj.tensor.Tensor;
import org.internlmj.trainer.ckpt.CheckpointContent;
import org.internlmj.trainer.ckpt.CheckpointStore;
import org.internlmj.trainer.ckpt.HfCheckpoint;
import org.internlmj.trainer.ckpt.TrainState;
import org.internlmj.trainer.config.ConfigTree;
import org.internlmj.trainer.config.TrainConfig;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code internlmj convert}: native checkpoints to and from HuggingFace safetensors folders. */
@Command(name = "convert", mixinStandardHelpOptions = true,
        description = {"Convert checkpoints between this engine and HuggingFace (InternLM's HF layout).",
                "  internlmj convert --ckpt llm_ckpts/600 --to-hf hf/internlm-demo",
                "  internlmj convert --from-hf hf/internlm-7b --to llm_ckpts/imported"})
final class ConvertCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @CommandLine.ArgGroup(exclusive = true, multiplicity = "1")
    Source source;

    static final class Source {
        @Option(names = "--ckpt", description = "A native checkpoint folder to export.")
        Path ckpt;

        @Option(names = "--from-hf", description = "A HuggingFace folder to import.")
        Path fromHf;
    }

    @Option(names = "--to-hf", description = "Output HuggingFace folder (with --ckpt).")
    Path toHf;

    @Option(names = "--to", description = "Output checkpoint folder (with --from-hf); weights only.")
    Path to;

    @Option(names = "--max-shard-size", defaultValue = "5GB",
            description = "Largest shard when exporting, e.g. 2GB, 500MB. Default: ${DEFAULT-VALUE}.")
    String maxShard;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        if (source.ckpt != null) {
            if (toHf == null) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--ckpt needs --to-hf OUT");
            }
            CheckpointStore.Loaded c = CheckpointStore.open(source.ckpt);
            TrainConfig cfg = TrainConfig.from(ConfigTree.parse(c.config().toString(), source.ckpt + "/meta.json", List.of()));
            try (MemoryScope scope = MemoryScope.open()) {
                // every pipeline stage's and tensor rank's files: split weights are put back together first
                HfCheckpoint.export(CheckpointStore.readFullWeights(c), cfg.model(), toHf, parseSize(maxShard));
            }
            out.println("exported " + source.ckpt + " (step " + c.step() + ") to " + toHf);
            return 0;
        }
        if (to == null) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--from-hf needs --to OUT");
        }
        Map<String, Object> keys = HfCheckpoint.modelKeys(source.fromHf);
        ObjectNode config = JSON.createObjectNode();
        ObjectNode model = config.putObject("model");
        keys.forEach((k, v) -> model.putPOJO(k, v));
        config.putObject("ckpt").put("enable_save_ckpt", false);
        TrainConfig cfg = TrainConfig.from(ConfigTree.parse(config.toString(), "config from " + source.fromHf, List.of()));
        try (MemoryScope scope = MemoryScope.open()) {
            Map<String, Tensor> w = HfCheckpoint.read(source.fromHf, cfg.model().numLayers(), cfg.model().hiddenSize());
            CheckpointContent content = new CheckpointContent(new TrainState(0, 0, 0, 0, null, null), w, Map.of(), 0,
                    cfg.tree().raw(), "byte");
            Path parent = to.toAbsolutePath().getParent();
            CheckpointStore.write(parent, to.getFileName().toString(), content);
        }
        out.println("imported " + source.fromHf + " to " + to + " (weights only; load it with ckpt.load_model_only_folder)");
        return 0;
    }

    static long parseSize(String s) {
        String t = s.trim().toUpperCase(java.util.Locale.ROOT);
        long mult = 1;
        for (String[] u : new String[][] {{"GB", "1000000000"}, {"MB", "1000000"}, {"KB", "1000"}, {"B", "1"}}) {
            if (t.endsWith(u[0])) {
                mult = Long.parseLong(u[1]);
                t = t.substring(0, t.length() - u[0].length()).trim();
                break;
            }
        }
        try {
            return (long) (Double.parseDouble(t) * mult);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--max-shard-size '" + s + "': expected a size like 5GB or 500MB");
        }
    }
}
