package org.internlmj.tensor.cpu;

import java.util.Arrays;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Recycles the heap arrays of freed CPU storages so that a training step that frees its activations
 * at the end (a closed {@code MemoryScope}) allocates nothing new in the next step. Arrays are keyed
 * by element type and exact length; the pool holds at most {@code capacityBytes}.
 */
final class CpuArrayPool {
    private final ConcurrentHashMap<Long, ConcurrentLinkedDeque<Object>> free = new ConcurrentHashMap<>();
    private final AtomicLong pooledBytes = new AtomicLong();
    private final long capacityBytes;

    CpuArrayPool(long capacityBytes) {
        this.capacityBytes = capacityBytes;
    }

    private static long key(int kind, int length) {
        return ((long) kind << 32) | (length & 0xffffffffL);
    }

    private static int kind(Object array) {
        return switch (array) {
            case float[] a -> 0;
            case short[] a -> 1;
            case int[] a -> 2;
            case long[] a -> 3;
            case double[] a -> 4;
            default -> throw new IllegalArgumentException("not a storage array: " + array.getClass());
        };
    }

    private static long bytes(Object array) {
        return switch (array) {
            case float[] a -> 4L * a.length;
            case short[] a -> 2L * a.length;
            case int[] a -> 4L * a.length;
            case long[] a -> 8L * a.length;
            case double[] a -> 8L * a.length;
            default -> 0;
        };
    }

    float[] floats(int length, boolean zero) {
        float[] a = (float[]) take(0, length);
        if (a == null) {
            return new float[length];
        }
        if (zero) {
            Arrays.fill(a, 0f);
        }
        return a;
    }

    short[] shorts(int length, boolean zero) {
        short[] a = (short[]) take(1, length);
        if (a == null) {
            return new short[length];
        }
        if (zero) {
            Arrays.fill(a, (short) 0);
        }
        return a;
    }

    int[] ints(int length, boolean zero) {
        int[] a = (int[]) take(2, length);
        if (a == null) {
            return new int[length];
        }
        if (zero) {
            Arrays.fill(a, 0);
        }
        return a;
    }

    long[] longs(int length, boolean zero) {
        long[] a = (long[]) take(3, length);
        if (a == null) {
            return new long[length];
        }
        if (zero) {
            Arrays.fill(a, 0L);
        }
        return a;
    }

    double[] doubles(int length, boolean zero) {
        double[] a = (double[]) take(4, length);
        if (a == null) {
            return new double[length];
        }
        if (zero) {
            Arrays.fill(a, 0.0);
        }
        return a;
    }

    private Object take(int kind, int length) {
        if (length == 0) {
            return null;
        }
        ConcurrentLinkedDeque<Object> q = free.get(key(kind, length));
        Object a = q == null ? null : q.pollFirst();
        if (a != null) {
            pooledBytes.addAndGet(-bytes(a));
        }
        return a;
    }

    void give(Object array) {
        long b = bytes(array);
        if (b == 0 || pooledBytes.get() + b > capacityBytes) {
            return; // left to the garbage collector
        }
        pooledBytes.addAndGet(b);
        free.computeIfAbsent(key(kind(array), java.lang.reflect.Array.getLength(array)),
                k -> new ConcurrentLinkedDeque<>()).addFirst(array);
    }

    long pooledBytes() {
        return pooledBytes.get();
    }

    void clear() {
        free.clear();
        pooledBytes.set(0);
    }
}
