package org.internlmj.tensor;

/** Elementwise functions of one argument, computed in fp32 (fp64 in the reference backend). */
public enum UnaryOp {
    NEG, ABS, EXP, LOG, SQRT, RSQRT, RECIPROCAL, SQUARE, SIGMOID, SILU, TANH, RELU;

    /** The function in double precision: the definition every backend is tested against. */
    public double apply(double x) {
        return switch (this) {
            case NEG -> -x;
            case ABS -> Math.abs(x);
            case EXP -> Math.exp(x);
            case LOG -> Math.log(x);
            case SQRT -> Math.sqrt(x);
            case RSQRT -> 1.0 / Math.sqrt(x);
            case RECIPROCAL -> 1.0 / x;
            case SQUARE -> x * x;
            case SIGMOID -> 1.0 / (1.0 + Math.exp(-x));
            case SILU -> x / (1.0 + Math.exp(-x));
            case TANH -> Math.tanh(x);
            case RELU -> x > 0 ? x : 0.0;
        };
    }
}
