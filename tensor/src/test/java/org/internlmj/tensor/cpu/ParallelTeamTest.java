package org.internlmj.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@link Parallel#team}: distinct threads, a working barrier, failures that do not hang, busy fallback. */
class ParallelTeamTest {

    @Test
    @Timeout(20)
    void membersRunOnDistinctThreadsAndMeetAtTheBarrier() {
        try (Parallel p = new Parallel(3)) {
            for (int round = 0; round < 200; round++) {
                int[] written = new int[3];
                int[][] seen = new int[3][];
                Set<Thread> threads = ConcurrentHashMap.newKeySet();
                AtomicInteger sizes = new AtomicInteger();
                int value = round;
                p.team(3, (rank, size, barrier) -> {
                    threads.add(Thread.currentThread());
                    sizes.addAndGet(size);
                    written[rank] = value + rank;
                    barrier.await();
                    // after the barrier every member sees every other member's write
                    seen[rank] = written.clone();
                    barrier.await();
                });
                assertEquals(3, threads.size());
                assertEquals(9, sizes.get());
                for (int r = 0; r < 3; r++) {
                    assertArrayEquals(new int[] {value, value + 1, value + 2}, seen[r], "rank " + r + " round " + round);
                }
            }
        }
    }

    @Test
    @Timeout(20)
    void sizeIsCappedByThePool() {
        try (Parallel p = new Parallel(2)) {
            AtomicInteger members = new AtomicInteger();
            p.team(8, (rank, size, barrier) -> {
                assertEquals(2, size);
                members.incrementAndGet();
                barrier.await();
            });
            assertEquals(2, members.get());
        }
    }

    @Test
    @Timeout(20)
    void aFailingMemberBreaksTheBarrierAndTheFailureIsRethrown() {
        try (Parallel p = new Parallel(2)) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> p.team(2, (rank, size, barrier) -> {
                if (rank == 1) {
                    throw new IllegalStateException("member 1 failed");
                }
                barrier.await();
            }));
            // the member's own failure, not the barrier's consequence of it
            assertEquals("member 1 failed", e.getMessage());
            // the pool still works afterwards
            AtomicInteger members = new AtomicInteger();
            p.team(2, (rank, size, barrier) -> {
                members.incrementAndGet();
                barrier.await();
            });
            assertEquals(2, members.get());
        }
    }

    @Test
    @Timeout(20)
    void aTeamStartedFromInsideATaskRunsAlone() {
        try (Parallel p = new Parallel(2)) {
            int[] sizes = new int[2];
            p.forEach(2, i -> p.team(2, (rank, size, barrier) -> {
                barrier.await();
                sizes[i] = size;
            }));
            assertArrayEquals(new int[] {1, 1}, sizes);
        }
    }
}
