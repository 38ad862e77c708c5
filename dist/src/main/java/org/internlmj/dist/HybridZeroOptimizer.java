package org.internlmj.dist;

import java.util.ArrayList;
import java.util.List;
import org.internlmj.autograd.Variable;
import org.internlmj.tensor.AdamWStep;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Tensor;

/**
 * InternLM's hybrid ZeRO optimizer (AdamW) with the numerics of {@code hybrid_zero_optim.py}: fp32 master
 * weights and Adam moments next to model weights in {@code model.dtype}; the loss is scaled by the
 * {@link GradScaler}; at {@code step} the global L2 norm of the gradients is taken, inf/nan skips the
 * update (the scaler backs off, the caller's LR and beta2 schedules must not advance), otherwise the
 * gradients are unscaled and clipped by one factor {@code loss_scale * max(1, (norm + 1e-6) / clip)} inside
 * the AdamW kernel, which also writes the updated weights back in the model dtype.
 *
 * <p>This class runs one rank's whole model (a ZeRO group of size 1); sharding the master weights and
 * moments over a data-parallel group, bucketed gradient all-reduce and parameter broadcast come with the
 * process groups of the data-parallel work.
 */
public final class HybridZeroOptimizer {
    private final List<Variable> params;
    private final List<Tensor> masters = new ArrayList<>();
    private final List<Tensor> expAvg = new ArrayList<>();
    private final List<Tensor> expAvgSq = new ArrayList<>();
    private final Settings settings;
    private final GradScaler scaler;
    private long steps;

    /** AdamW's constant hyper-parameters and the clipping threshold (0 = no clipping). */
    public record Settings(double beta1, double eps, double weightDecay, double clipGradNorm) {
    }

    /**
     * Outcome of a step.
     *
     * @param gradNorm global L2 norm of the unscaled gradients; -1 if infinite, -2 if NaN (InternLM's codes)
     */
    public record StepResult(boolean applied, double gradNorm, double lossScale) {
    }

    public HybridZeroOptimizer(List<Variable> params, Settings settings, GradScaler scaler) {
        this.params = List.copyOf(params);
        this.settings = settings;
        this.scaler = scaler;
        for (Variable p : this.params) {
            Tensor d = p.data();
            masters.add(d.dtype() == DType.F32 ? d : d.to(DType.F32));
            expAvg.add(Tensor.zeros(DType.F32, d.device(), d.shape()));
            expAvgSq.add(Tensor.zeros(DType.F32, d.device(), d.shape()));
        }
    }

    /** The factor the loss is multiplied by before backward. */
    public double lossScale() {
        return scaler.scale();
    }

    public GradScaler scaler() {
        return scaler;
    }

    /** Successful updates so far (AdamW's bias-correction step). */
    public long steps() {
        return steps;
    }

    /** Applies one update with this step's learning rate and beta2, then zeroes the gradients. */
    public StepResult step(double lr, double beta2) {
        double lossScale = scaler.scale();
        double sumSq = 0;
        for (Variable p : params) {
            Tensor g = p.grad();
            if (g != null) {
                sumSq += g.backend().sumOfSquares(g);
            }
        }
        boolean overflow = !Double.isFinite(sumSq);
        scaler.update(overflow);
        if (overflow) {
            zeroGrads();
            return new StepResult(false, Double.isNaN(sumSq) ? -2 : -1, lossScale);
        }
        double norm = Math.sqrt(sumSq) / lossScale;
        double combined = lossScale;
        if (settings.clipGradNorm() > 0) {
            combined = lossScale * Math.max(1.0, (norm + 1e-6) / settings.clipGradNorm());
        }
        steps++;
        AdamWStep hp = new AdamWStep(lr, settings.beta1(), beta2, settings.eps(), settings.weightDecay(), steps,
                1.0 / combined);
        for (int i = 0; i < params.size(); i++) {
            Variable p = params.get(i);
            Tensor g = p.grad();
            if (g == null) {
                continue; // a parameter no loss reached gets no update, as torch's AdamW skips grad-less params
            }
            Tensor master = masters.get(i);
            Tensor modelCopy = master == p.data() ? null : p.data();
            master.backend().adamw(master, g, expAvg.get(i), expAvgSq.get(i), hp, modelCopy);
        }
        zeroGrads();
        return new StepResult(true, norm, lossScale);
    }

    private void zeroGrads() {
        for (Variable p : params) {
            if (p.grad() != null) {
                p.zeroGrad();
            }
        }
    }

    /** fp32 master copy of parameter {@code i} (the parameter's own tensor when the model is fp32). */
    public Tensor master(int i) {
        return masters.get(i);
    }

    public Tensor expAvg(int i) {
        return expAvg.get(i);
    }

    public Tensor expAvgSq(int i) {
        return expAvgSq.get(i);
    }

    /**
     * Copies the model weights into the fp32 master copies (after loading weights only, InternLM's
     * {@code reload_zero_fp32_buff}).
     */
    public void reloadMasters() {
        for (int i = 0; i < params.size(); i++) {
            if (masters.get(i) != params.get(i).data()) {
                masters.get(i).copyFrom(params.get(i).data());
            }
        }
    }

    /** Restores the step count (with masters and moments copied in by the checkpoint loader). */
    public void restoreSteps(long steps) {
        this.steps = steps;
    }
}
