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

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        out.println("internlmj " + Main.version());
        out.println("java: " + Runtime.version() + " (" + System.getProperty("java.vendor") + ", "
                + System.getProperty("java.home") + ")");
        out.println("os: " + System.getProperty("os.name") + " " + System.getProperty("os.arch") + ", "
                + Runtime.getRuntime().availableProcessors() + " processors, max heap "
                + Runtime.getRuntime().maxMemory() / (1024 * 1024) + " MiB");
        out.println("cpu backend: " + CpuBackend.shared().describe());
        out.println("native libraries:");
        for (NativeLibrary.Spec lib : KnownLibraries.all()) {
            out.println("  " + NativeLibrary.find(lib).describe());
        }
        return 0;
    }
}
