package org.internlmj.trainer.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.util.Properties;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code internlmj} command line. The only place that calls {@code System.exit}.
 *
 * <pre>{@code internlmj info}</pre>
 */
@Command(name = "internlmj",
        mixinStandardHelpOptions = true,
        versionProvider = Main.Version.class,
        description = "Trains InternLM-architecture language models on the JVM.",
        subcommands = {TrainCommand.class, GenerateCommand.class, PrepareCommand.class, ConvertCommand.class,
                InfoCommand.class, ScheduleCommand.class, BenchCommand.class, LaunchCommand.class, DistSelftestCommand.class,
                GpuCheckCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /** Runs the CLI and returns the exit code (for tests and embedding). */
    public static int run(PrintWriter out, PrintWriter err, String... args) {
        CommandLine cl = new CommandLine(new Main());
        // everything after launch's first positional belongs to the workers' command, options included
        cl.getSubcommands().get("launch").setStopAtPositional(true);
        cl.setOut(out);
        cl.setErr(err);
        cl.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            commandLine.getErr().println("error: " + (ex.getMessage() == null ? ex.toString() : ex.getMessage()));
            if (Boolean.getBoolean("internlmj.stacktrace")) {
                ex.printStackTrace(commandLine.getErr());
            }
            return 1;
        });
        int code = cl.execute(args);
        out.flush();
        err.flush();
        return code;
    }

    public static void main(String[] args) {
        LaunchCommand.exitWithLauncher();
        int code = run(new PrintWriter(System.out, true), new PrintWriter(System.err, true), args);
        System.exit(code);
    }

    /** The version from the build. */
    public static String version() {
        try (InputStream in = Main.class.getResourceAsStream("/org/internlmj/trainer/version.properties")) {
            if (in == null) {
                return "unknown";
            }
            Properties p = new Properties();
            p.load(in);
            return p.getProperty("version", "unknown");
        } catch (IOException e) {
            return "unknown";
        }
    }

    /** picocli version provider. */
    public static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"internlmj " + version(),
                    "Java " + Runtime.version() + " (" + System.getProperty("java.vendor") + ")"};
        }
    }
}
