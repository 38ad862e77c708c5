package org.internlmj.trainer.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code internlmj launch --nproc N -- SUBCOMMAND ARGS...}: starts N worker JVMs of this program on this
 * machine with torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR,
 * MASTER_PORT), so that {@code Rendezvous.fromEnvironment()} in each joins one TCP process group; shows
 * rank 0's output (every rank's, prefixed, with {@code --log-all}); and waits. If a worker fails, the
 * others are stopped and every failing rank is reported with its exit code.
 */
@Command(name = "launch", mixinStandardHelpOptions = true,
        description = {"Start N worker processes of this program on this machine (torchrun-style environment) and wait for them.",
                "Example: internlmj launch --nproc 2 -- train configs/demo.yaml"})
final class LaunchCommand implements Callable<Integer> {
    /** The variable that tells a worker which process launched it, so it can exit when that is gone. */
    static final String LAUNCHER_PID = "INTERNLMJ_LAUNCHER_PID";

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--nproc", required = true, paramLabel = "N", description = "Number of worker processes.")
    int nproc;

    @Option(names = "--log-all", description = "Show every rank's output, each line prefixed with [rank k] (default: rank 0 only).")
    boolean logAll;

    @Option(names = "--port", defaultValue = "0", paramLabel = "P",
            description = "MASTER_PORT: where rank 0 serves the rendezvous store (default: a free port).")
    int port;

    @Option(names = "--master-addr", defaultValue = "127.0.0.1", paramLabel = "HOST", description = "MASTER_ADDR (default 127.0.0.1).")
    String masterAddr;

    @Option(names = "--grace", defaultValue = "5", paramLabel = "SECONDS",
            description = "After a worker fails, how long the others get to exit before they are killed (default 5).")
    int graceSeconds;

    @Parameters(arity = "1..*", paramLabel = "SUBCOMMAND",
            description = "What every worker runs: an internlmj subcommand and its arguments, after --.")
    List<String> command;

    @Override
    public Integer call() throws IOException, InterruptedException {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (nproc < 1) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--nproc must be at least 1, got " + nproc);
        }
        if (port < 0 || port > 65535) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--port must be 0 to 65535, got " + port);
        }
        if (command.getFirst().equals("launch")) {
            throw new CommandLine.ParameterException(spec.commandLine(), "a worker cannot itself be `launch`");
        }
        int masterPort = port > 0 ? port : freePort();
        String threads = cpuThreadsPerWorker();
        LocalWorkers workers = LocalWorkers.start(WorkerCommand.forThisJvm(command), nproc, rank -> {
            Map<String, String> env = new HashMap<>();
            env.put("RANK", Integer.toString(rank));
            env.put("WORLD_SIZE", Integer.toString(nproc));
            env.put("LOCAL_RANK", Integer.toString(rank));
            env.put("LOCAL_WORLD_SIZE", Integer.toString(nproc));
            env.put("MASTER_ADDR", masterAddr);
            env.put("MASTER_PORT", Integer.toString(masterPort));
            env.put(LAUNCHER_PID, Long.toString(ProcessHandle.current().pid()));
            if (threads != null) {
                env.put("INTERNLMJ_CPU_THREADS", threads);
            }
            return env;
        }, rank -> logAll ? "[rank " + rank + "] " : rank == 0 ? "" : null, out, err);
        List<LocalWorkers.Exit> exits = workers.await(Duration.ofSeconds(graceSeconds));
        return report(exits, err);
    }

    /** Prints "rank k exited with code c" for each failure; returns the launcher's exit code. */
    private int report(List<LocalWorkers.Exit> exits, PrintWriter err) {
        LocalWorkers.Exit first = exits.stream().filter(e -> e.code() != 0 && !e.stopped()).findFirst().orElse(null);
        if (first == null) {
            return 0;
        }
        for (LocalWorkers.Exit e : exits) {
            if (e.code() == 0) {
                continue;
            }
            if (e.stopped()) {
                err.println("launch: rank " + e.rank() + " was stopped after rank " + first.rank() + " failed (exit code "
                        + e.code() + describeSignal(e.code()) + ")");
                continue;
            }
            err.println("launch: rank " + e.rank() + " exited with code " + e.code() + describeSignal(e.code()));
            if (!e.stderrTail().isEmpty()) {
                err.println("launch: the last lines rank " + e.rank() + " wrote to stderr:");
                for (String line : e.stderrTail()) {
                    err.println("  | " + line);
                }
            }
        }
        long failed = exits.stream().filter(e -> e.code() != 0 && !e.stopped()).count();
        err.println("launch: " + failed + " of " + exits.size() + (exits.size() == 1 ? " rank" : " ranks") + " failed");
        err.flush();
        return first.code() > 0 && first.code() < 256 ? first.code() : 1;
    }

    private static String describeSignal(int code) {
        return switch (code) {
            case 137 -> ", killed: SIGKILL";
            case 143 -> ", terminated: SIGTERM";
            case 134 -> ", aborted: SIGABRT";
            case 139 -> ", crashed: SIGSEGV";
            default -> "";
        };
    }

    /**
     * Splits the cores among the workers (as torchrun does with OMP_NUM_THREADS), unless the user set
     * INTERNLMJ_CPU_THREADS: N workers each using every core would fight over them.
     */
    private String cpuThreadsPerWorker() {
        if (System.getenv("INTERNLMJ_CPU_THREADS") != null || System.getProperty("internlmj.cpu.threads") != null) {
            return null;
        }
        return Integer.toString(Math.max(1, Runtime.getRuntime().availableProcessors() / nproc));
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /**
     * In a worker: exit as soon as the launcher that started it is gone (killed, say), instead of waiting
     * in a collective until the timeout. Called by {@link Main#main}.
     */
    static void exitWithLauncher() {
        String pid = System.getenv(LAUNCHER_PID);
        if (pid == null) {
            return;
        }
        long p;
        try {
            p = Long.parseLong(pid.trim());
        } catch (NumberFormatException e) {
            return;
        }
        ProcessHandle.of(p).ifPresentOrElse(
                h -> h.onExit().thenRun(LaunchCommand::launcherGone),
                LaunchCommand::launcherGone);
    }

    private static void launcherGone() {
        System.err.println("internlmj: the launcher that started this worker is gone; exiting");
        Runtime.getRuntime().halt(1);
    }
}
