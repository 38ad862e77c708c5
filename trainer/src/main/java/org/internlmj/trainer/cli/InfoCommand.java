package org.internlmj.trainer.cli;

import java.io.PrintWriter;
import java.util.concurrent.Callable;
import org.internlmj.ffm.KnownLibraries;
import org.internlmj.ffm.NativeLibrary;
import org.internlmj.tensor.cpu.CpuBackend;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code internlmj info}: the Java runtime, the CPU backend, and which native libraries were found where. */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = "Print the Java runtime, the CPU backend's vector width and threads, and the native libraries found.")
final class InfoCommand implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @CommandLine.Option(names = "--config", description = "Also describe the model and run of this config.")
    java.nio.file.Path config;

    @CommandLine.Option(names = "--set", paramLabel = "KEY=VALUE", description = "Override a config key (repeatable).")
    java.util.List<String> overrides = new java.util.ArrayList<>();

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        if (config != null) {
            describe(out, org.internlmj.trainer.config.TrainConfig.load(config, overrides));
            return 0;
        }
        out.println("internlmj " + Main.version());
        out.println("java: " + Runtime.version() + " (" + System.getProperty("java.vendor") + ", "
                + System.getProperty("java.home") + ")");
        out.println("os: " + System.getProperty("os.name") + " " + System.getProperty("os.arch") + ", "
                + Runtime.getRuntime().availableProcessors() + " processors, max heap "
                + Runtime.getRuntime().maxMemory() / (1024 * 1024) + " MiB");
        out.println("cpu backend: " + CpuBackend.shared().describe());
        String cuda = new org.internlmj.tensor.cuda.CudaProvider().unavailableReason(org.internlmj.tensor.Device.cuda(0));
        out.println("cuda backend: " + (cuda == null ? "cuda:0 available" : "unavailable: " + cuda));
        String launcherCuda = System.getenv("INTERNLMJ_CUDA_LIBS");
        if (launcherCuda != null) {
            // the launcher's search (scripts/find-cuda.sh) also covers toolkits and conda/pip folders off the default paths
            out.println("launcher found CUDA libraries: " + launcherCuda);
        }
        out.println("native libraries:");
        for (NativeLibrary.Spec lib : KnownLibraries.all()) {
            out.println("  " + NativeLibrary.find(lib).describe());
        }
        return 0;
    }

    private static void describe(PrintWriter out, org.internlmj.trainer.config.TrainConfig c) {
        var m = c.model();
        var d = c.data();
        out.println("config: " + c.jobName());
        out.printf("model: hidden %d, layers %d, heads %d (head dim %d), MLP hidden %d (mlp_ratio %.6g), vocab %d, %s, %s%n",
                m.hiddenSize(), m.numLayers(), m.numAttentionHeads(), m.headDim(), m.mlpHidden(), m.mlpRatio(),
                m.vocabSize(), m.normType().name().toLowerCase(java.util.Locale.ROOT), m.dtype());
        out.printf("parameters: %,d (%.2fB)%n", m.parameterCount(), m.parameterCount() / 1e9);
        out.printf("data: seq_len %d, micro_bsz %d (packed length %d), micro_num %d: %,d tokens per step per data-parallel rank%n",
                d.seqLen(), d.microBsz(), d.packedLength(), d.microNum(), (long) d.packedLength() * d.microNum());
        var p = c.parallel();
        out.printf("parallel: zero1 %d, tensor %d, pipeline %d%s, sequence parallel %s%n", p.zero1(), p.tensor(), p.pipeline(),
                m.numChunks() > 1 ? " x " + m.numChunks() + " chunks (interleaved)" : "", p.sequenceParallel());
    }
}
