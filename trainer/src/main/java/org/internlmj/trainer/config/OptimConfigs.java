package org.internlmj.trainer.config;

/** The optimizer-related sections: {@code adam}, {@code lr_scheduler}, {@code beta2_scheduler}, {@code grad_scaler}, {@code hybrid_zero_optimizer}, {@code loss}. */
public final class OptimConfigs {
    private OptimConfigs() {
    }

    /** {@code adam}: torch.optim.AdamW's hyper-parameters. */
    public record Adam(double lr, double beta1, double beta2, double beta2C, double eps, double weightDecay) {
        static Adam from(Section s) {
            Adam a = new Adam(s.getDouble("lr", 1e-4), s.getDouble("adam_beta1", 0.9), s.getDouble("adam_beta2", 0.95),
                    s.getDouble("adam_beta2_c", 0), s.getDouble("adam_eps", 1e-8), s.getDouble("weight_decay", 0.01));
            s.range("lr", a.lr, 0, 10);
            s.range("adam_beta1", a.beta1, 0, 0.999999999);
            s.range("adam_beta2", a.beta2, 0, 0.999999999);
            s.range("adam_eps", a.eps, 0, 1);
            s.range("weight_decay", a.weightDecay, 0, 10);
            s.finish();
            return a;
        }
    }

    /** {@code lr_scheduler}: linear warm-up then cosine decay (InternLM's FineTuneCosineAnnealingWarmupLR). */
    public record LrScheduler(int totalSteps, int initSteps, double warmupRatio, double etaMin, int lastEpoch) {
        static LrScheduler from(Section s, int defaultTotal) {
            LrScheduler l = new LrScheduler(s.getInt("total_steps", defaultTotal), s.getInt("init_steps", 0),
                    s.getDouble("warmup_ratio", 0.0), s.getDouble("eta_min", 1e-5), s.getInt("last_epoch", -1));
            s.range("total_steps", l.totalSteps, 1, Integer.MAX_VALUE);
            s.range("init_steps", l.initSteps, 0, Integer.MAX_VALUE);
            s.range("warmup_ratio", l.warmupRatio, 0, 1);
            s.range("eta_min", l.etaMin, 0, 10);
            if (l.lastEpoch != -1) {
                throw new ConfigException("lr_scheduler.last_epoch = " + l.lastEpoch
                        + ": expected -1 (a fresh schedule; resuming restores the position from the checkpoint)");
            }
            s.finish();
            return l;
        }
    }

    /** {@code beta2_scheduler}: {@code beta2 = max(init, 1 - 1/iter^c)} when c > 0. */
    public record Beta2Scheduler(double initBeta2, double c, int curIter) {
        static Beta2Scheduler from(Section s, Adam adam) {
            Beta2Scheduler b = new Beta2Scheduler(s.getDouble("init_beta2", adam.beta2()), s.getDouble("c", adam.beta2C()),
                    s.getInt("cur_iter", -1));
            s.range("init_beta2", b.initBeta2, 0, 0.999999999);
            s.finish();
            return b;
        }
    }

    /** {@code grad_scaler}: dynamic loss scaling (applied to bf16 too, as InternLM does). */
    public record GradScaler(double initialScale, double minScale, int growthInterval, double growthFactor,
                             double backoffFactor, double maxScale, int hysteresis) {
        static GradScaler from(Section s) {
            Section fp16 = s.section("fp16");
            double initial = fp16.getDouble("initial_scale", 65536);
            double min = fp16.getDouble("min_scale", 1);
            int growth = fp16.getInt("growth_interval", 1000);
            fp16.range("initial_scale", initial, Double.MIN_NORMAL, Double.MAX_VALUE);
            fp16.range("min_scale", min, 0, initial);
            fp16.range("growth_interval", growth, 1, Integer.MAX_VALUE);
            fp16.finish();
            GradScaler g = new GradScaler(initial, min, growth, s.getDouble("growth_factor", 2),
                    s.getDouble("backoff_factor", 0.5), s.getDouble("max_scale", Math.pow(2, 24)),
                    s.getInt("hysteresis", 2));
            s.range("growth_factor", g.growthFactor, 1, 1e6);
            s.range("backoff_factor", g.backoffFactor, 1e-6, 1);
            s.range("max_scale", g.maxScale, initial, Double.MAX_VALUE);
            s.range("hysteresis", g.hysteresis, 1, Integer.MAX_VALUE);
            s.finish();
            return g;
        }
    }

    /** {@code hybrid_zero_optimizer}. */
    public record HybridZero(boolean overlapSyncGrad, boolean overlapSyncParam, long reduceBucketSize,
                             double clipGradNorm, boolean useSplitTensorOptim, long allGatherSize) {
        static HybridZero from(Section s) {
            HybridZero h = new HybridZero(s.getBool("overlap_sync_grad", true), s.getBool("overlap_sync_param", true),
                    s.getLong("reduce_bucket_size", 512L * 1024 * 1024), s.getDouble("clip_grad_norm", 0),
                    s.getBool("use_split_tensor_optim", false), s.getLong("all_gather_size", 512L * 1024 * 1024));
            s.range("reduce_bucket_size", h.reduceBucketSize, 1, Long.MAX_VALUE);
            s.range("clip_grad_norm", h.clipGradNorm, 0, Double.MAX_VALUE);
            s.range("all_gather_size", h.allGatherSize, 1, Long.MAX_VALUE);
            s.finish();
            return h;
        }
    }

    /** {@code loss}. */
    public record Loss(double labelSmoothing) {
        static Loss from(Section s) {
            Loss l = new Loss(s.getDouble("label_smoothing", 0));
            s.range("label_smoothing", l.labelSmoothing, 0, 1);
            s.accept("moe_loss_coeff");
            if (s.has("moe_loss_coeff")) {
                throw new ConfigException("loss.moe_loss_coeff: mixture-of-experts models are not supported by this engine");
            }
            s.finish();
            return l;
        }
    }
}
