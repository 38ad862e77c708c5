package org.internlmj.tensor;

/** Reductions along one axis. MAX and MIN propagate NaN; an empty SUM is 0, an empty MEAN is NaN. */
public enum ReduceOp {
    SUM, MEAN, MAX, MIN
}
