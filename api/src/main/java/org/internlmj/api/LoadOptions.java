package org.internlmj.api;

/**
 * How {@link InternLM#load(java.nio.file.Path, LoadOptions)} loads a model.
 *
 * <pre>{@code
 * try (InternLM lm = InternLM.load(Path.of("hf/internlm-demo"),
 *         LoadOptions.defaults().withDevice("cuda:0").withTokenizer(Tokenizer.huggingFace(Path.of("tokenizer.json"))))) {
 *     System.out.println(lm.generate("Hello", GenerationOptions.defaults()));
 * }
 * }</pre>
 *
 * @param device    {@code "cpu"}, {@code "cuda"} or {@code "cuda:N"}
 * @param tokenizer the tokenizer to use, or null to take the model's own (see {@link InternLM#load(java.nio.file.Path)});
 *                  a tokenizer given here stays the caller's to close
 */
public record LoadOptions(String device, Tokenizer tokenizer) {

    /** Checks that a device is named. */
    public LoadOptions {
        if (device == null || device.isBlank()) {
            throw new IllegalArgumentException("device must be \"cpu\", \"cuda\" or \"cuda:N\", got " + device);
        }
    }

    /** On the CPU, with the model's own tokenizer. */
    public static LoadOptions defaults() {
        return new LoadOptions("cpu", null);
    }

    /** A copy on another device. */
    public LoadOptions withDevice(String device) {
        return new LoadOptions(device, tokenizer);
    }

    /** A copy with a given tokenizer instead of the model's own. */
    public LoadOptions withTokenizer(Tokenizer tokenizer) {
        return new LoadOptions(device, tokenizer);
    }
}
