package org.internlmj.trainer.cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;

/**
 * Worker processes on this machine: started with their own environment, their output forwarded (or, for
 * ranks whose output is not shown, the last lines of stderr kept for the failure report), their exits
 * collected. When one worker fails the others are stopped: SIGTERM, then SIGKILL after a grace period.
 */
final class LocalWorkers {
    /** Lines of stderr kept per worker whose output is not shown. */
    static final int TAIL_LINES = 20;

    /** How a worker ended. */
    record Exit(int rank, int code, boolean stopped, List<String> stderrTail) {
    }

    private final List<Process> processes = new ArrayList<>();
    private final List<Thread> pumps = new ArrayList<>();
    private final List<ArrayDeque<String>> tails = new ArrayList<>();
    private final LinkedBlockingQueue<Integer> exited = new LinkedBlockingQueue<>();
    private final Thread reaper = new Thread(this::destroyAll, "internlmj-launch-reaper");

    private LocalWorkers() {
    }

    /**
     * Starts {@code nproc} workers running {@code command} with the environment {@code env.apply(rank)}
     * adds. {@code shown.apply(rank)} is the prefix of that rank's forwarded lines, or null to not show
     * them.
     */
    static LocalWorkers start(List<String> command, int nproc, IntFunction<Map<String, String>> env,
                              IntFunction<String> shown, PrintWriter out, PrintWriter err) throws IOException {
        LocalWorkers w = new LocalWorkers();
        Runtime.getRuntime().addShutdownHook(w.reaper);
        try {
            for (int r = 0; r < nproc; r++) {
                ProcessBuilder pb = new ProcessBuilder(command);
                Map<String, String> e = pb.environment();
                // an outer mpirun's identity would make a worker think it is an MPI rank
                e.keySet().removeIf(k -> k.startsWith("OMPI_COMM_WORLD_") || k.startsWith("PMI_") || k.startsWith("PMIX_"));
                e.putAll(env.apply(r));
                Process p = pb.start();
                int rank = r;
                w.processes.add(p);
                ArrayDeque<String> tail = new ArrayDeque<>();
                w.tails.add(tail);
                String prefix = shown.apply(r);
                w.pump(p.getInputStream(), prefix == null ? null : out, prefix, null, "stdout", r);
                w.pump(p.getErrorStream(), prefix == null ? null : err, prefix, prefix == null ? tail : null, "stderr", r);
                p.onExit().thenRun(() -> w.exited.add(rank));
            }
        } catch (IOException | RuntimeException e) {
            w.destroyAll();
            w.removeReaper();
            throw e;
        }
        return w;
    }

    private void pump(InputStream in, PrintWriter to, String prefix, ArrayDeque<String> tail, String stream, int rank) {
        Thread t = Thread.ofPlatform().daemon().name("internlmj-launch-rank" + rank + "-" + stream).start(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    if (to != null) {
                        synchronized (to) {
                            to.println(prefix + line);
                            to.flush();
                        }
                    } else if (tail != null) {
                        synchronized (tail) {
                            if (tail.size() == TAIL_LINES) {
                                tail.removeFirst();
                            }
                            tail.addLast(line);
                        }
                    }
                }
            } catch (IOException e) {
                // the worker is gone; its exit code tells the story
            }
        });
        pumps.add(t);
    }

    /**
     * Waits until every worker has exited. When one exits with a non-zero code, the others are sent
     * SIGTERM and, after {@code grace}, SIGKILL. Returns the exits in rank order; the first failure is
     * the one not marked stopped.
     */
    List<Exit> await(Duration grace) throws InterruptedException {
        int n = processes.size();
        boolean[] stopped = new boolean[n];
        int remaining = n;
        long killAt = Long.MAX_VALUE;
        boolean failed = false;
        try {
            while (remaining > 0) {
                Integer r = killAt == Long.MAX_VALUE ? exited.take()
                        : exited.poll(Math.max(0, killAt - System.nanoTime()), TimeUnit.NANOSECONDS);
                if (r == null) {
                    for (Process p : processes) {
                        p.destroyForcibly();
                    }
                    killAt = Long.MAX_VALUE;
                    continue;
                }
                remaining--;
                if (!failed && !stopped[r] && processes.get(r).exitValue() != 0) {
                    failed = true;
                    for (int k = 0; k < n; k++) {
                        if (processes.get(k).isAlive()) {
                            stopped[k] = true;
                            processes.get(k).destroy();
                        }
                    }
                    killAt = System.nanoTime() + grace.toNanos();
                }
            }
        } finally {
            removeReaper();
        }
        for (Thread t : pumps) {
            // a worker's own children could hold its pipes open: do not wait for them forever
            t.join(2_000);
        }
        List<Exit> exits = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            List<String> tail;
            synchronized (tails.get(r)) {
                tail = List.copyOf(tails.get(r));
            }
            exits.add(new Exit(r, processes.get(r).exitValue(), stopped[r], tail));
        }
        return exits;
    }

    /** Kills every worker still running (the launcher is ending). */
    void destroyAll() {
        for (Process p : processes) {
            p.destroyForcibly();
        }
    }

    private void removeReaper() {
        try {
            Runtime.getRuntime().removeShutdownHook(reaper);
        } catch (IllegalStateException e) {
            // the JVM is shutting down: the hook runs anyway
        }
    }
}
