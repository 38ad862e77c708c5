package org.internlmj.dist;

import org.internlmj.tensor.Tensor;

/** The group of one rank: every collective leaves the data as it is (AVG and SUM of one value are the value). */
public final class SoloProcessGroup implements ProcessGroup {
    private static final Work DONE = new Work() {
        @Override
        public void await() {
        }

        @Override
        public boolean isDone() {
            return true;
        }
    };

    private final String name;

    public SoloProcessGroup(String name) {
        this.name = name;
    }

    @Override
    public int rank() {
        return 0;
    }

    @Override
    public int size() {
        return 1;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public Work allReduce(Tensor tensor, ReduceOp op) {
        return DONE;
    }

    @Override
    public Work reduceScatter(Tensor input, Tensor output, ReduceOp op) {
        if (input.numel() != output.numel()) {
            throw new IllegalArgumentException("reduceScatter on one rank: input " + input + " and output " + output
                    + " must hold the same number of elements");
        }
        output.copyFrom(input.reshape(output.shape()));
        return DONE;
    }

    @Override
    public Work allGather(Tensor input, Tensor output) {
        if (input.numel() != output.numel()) {
            throw new IllegalArgumentException("allGather on one rank: input " + input + " and output " + output
                    + " must hold the same number of elements");
        }
        output.copyFrom(input.reshape(output.shape()));
        return DONE;
    }

    @Override
    public Work broadcast(Tensor tensor, int root) {
        if (root != 0) {
            throw new IllegalArgumentException("broadcast from rank " + root + " in a group of one");
        }
        return DONE;
    }

    @Override
    public void barrier() {
    }

    @Override
    public Work send(Tensor tensor, int dst, int tag) {
        throw new IllegalArgumentException("send to rank " + dst + " in group " + name + " of one rank");
    }

    @Override
    public Work recv(Tensor tensor, int src, int tag) {
        throw new IllegalArgumentException("recv from rank " + src + " in group " + name + " of one rank");
    }

    @Override
    public ProcessGroup split(int[][] groups, String name) {
        return new SoloProcessGroup(name);
    }

    @Override
    public void close() {
    }
}
