package org.internlmj.dist;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/** Runs one task per rank on either engine, so the same test exercises both process groups. */
final class Worlds {
    private static final AtomicInteger WORLDS = new AtomicInteger();

    private Worlds() {
    }

    enum Engine { THREADS, TCP }

    /**
     * Runs {@code task} on {@code n} ranks of a fresh world of {@code engine} (TCP: every rank a thread of
     * this JVM with its own store client and connections) and returns the results in rank order; the
     * first rank failure is rethrown with the others suppressed.
     */
    static <T> List<T> run(Engine engine, int n, Duration timeout, ThreadWorld.RankTask<T> task) {
        if (engine == Engine.THREADS) {
            try (ThreadWorld w = new ThreadWorld(n, timeout)) {
                return w.run(task);
            }
        }
        List<T> results = new ArrayList<>(Collections.nCopies(n, null));
        Throwable[] errors = new Throwable[n];
        long[] when = new long[n];
        String prefix = "test-world-" + WORLDS.incrementAndGet();
        try (TcpStore server = TcpStore.serveLocal(timeout)) {
            Thread[] threads = new Thread[n];
            for (int r = 0; r < n; r++) {
                int rank = r;
                threads[r] = Thread.ofPlatform().name("tcp-rank-" + r).start(() -> {
                    try (TcpStore store = TcpStore.open(server.host(), server.port(), false, timeout);
                         ProcessGroup g = TcpProcessGroup.connect(store, rank, n, timeout, prefix, false)) {
                        results.set(rank, task.run(g));
                    } catch (Throwable t) {
                        errors[rank] = t;
                        when[rank] = System.nanoTime();
                    }
                });
            }
            for (Thread t : threads) {
                try {
                    t.join();
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            }
        }
        int first = -1;
        for (int r = 0; r < n; r++) {
            if (errors[r] != null && (first < 0 || when[r] < when[first])) {
                first = r;
            }
        }
        if (first >= 0) {
            RankFailedException f = new RankFailedException("rank " + first + " failed: " + errors[first], first, errors[first]);
            for (int r = 0; r < n; r++) {
                if (errors[r] != null && r != first) {
                    f.addSuppressed(errors[r]);
                }
            }
            throw f;
        }
        return results;
    }
}
