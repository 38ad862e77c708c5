package org.internlmj.trainer.config;

import java.util.List;

/**
 * The {@code internlmj} section: settings of this engine that InternLM's configs have no key for
 * (InternLM takes them from the command line or the environment).
 *
 * @param device "cpu", "cuda" or "cuda:N"
 * @param seed InternLM's {@code --seed} (default 1024): model init and data shuffling
 * @param runDir where metrics.jsonl and TensorBoard events go
 * @param tokenizer "byte" (built-in byte-level) or the path of a HuggingFace tokenizer.json
 * @param logEvery print a line every N steps
 * @param tensorboard write TensorBoard event files
 * @param autoPrepare if not null: build the train/valid folders from these text files on first run
 * @param samplePrompt if not null: print a generated continuation of this prompt after training
 * @param sampleTokens length of that sample
 */
public record EngineConfig(String device, long seed, String runDir, String tokenizer, int logEvery, boolean tensorboard,
                           AutoPrepare autoPrepare, String samplePrompt, int sampleTokens) {

    /** Text sources turned into {@code data.train_folder}/{@code valid_folder} when those are empty. */
    public record AutoPrepare(List<String> sources, double validFraction) {
    }

    static EngineConfig from(Section s, String jobName) {
        AutoPrepare prepare = null;
        if (s.has("auto_prepare")) {
            Section p = s.section("auto_prepare");
            List<String> sources = p.getStringList("sources", List.of());
            if (sources.isEmpty()) {
                throw new ConfigException("internlmj.auto_prepare.sources: expected at least one glob of text files");
            }
            double vf = p.getDouble("valid_fraction", 0.05);
            p.range("valid_fraction", vf, 0, 0.5);
            p.finish();
            prepare = new AutoPrepare(sources, vf);
        }
        int logEvery = s.getInt("log_every", 1);
        s.range("log_every", logEvery, 1, Integer.MAX_VALUE);
        int sampleTokens = s.getInt("sample_tokens", 200);
        s.range("sample_tokens", sampleTokens, 1, 100_000);
        EngineConfig e = new EngineConfig(s.getString("device", "cpu"), s.getLong("seed", 1024),
                s.getString("run_dir", "runs/" + jobName), s.getString("tokenizer", "byte"), logEvery,
                s.getBool("tensorboard", true), prepare, s.getString("sample_prompt", null), sampleTokens);
        s.finish();
        return e;
    }
}
