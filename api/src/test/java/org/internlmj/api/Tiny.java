package org.internlmj.api;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** A tiny model and its data, shared by the API tests: trains a step in well under a second. */
final class Tiny {
    private Tiny() {
    }

    /** Two dozen short documents. */
    static List<String> documents() {
        List<String> docs = new ArrayList<>();
        for (int i = 0; i < 24; i++) {
            docs.add(("the quick brown fox jumps over the lazy dog " + i + ". ").repeat(3));
        }
        return docs;
    }

    /** Prepares {@code base/data} from {@link #documents()} with the byte-level tokenizer, 20% held out. */
    static TrainingData data(Path base) throws IOException {
        return TrainingData.prepare(documents(), base.resolve("data"), Tokenizer.byteLevel(), 0.2);
    }

    /** Two layers, hidden 16, fp32, 6 steps of 2 x 2 x 16 tokens; checkpoints under {@code base/ckpt} every 3 steps. */
    static Config.Builder config(Path base, TrainingData data) {
        return Config.builder()
                .jobName("tiny")
                .hiddenSize(16).numLayers(2).numAttentionHeads(2).vocabSize(259).mlpRatio(2).dtype("float32")
                .seqLen(16).microBsz(2).microNum(2).totalSteps(6)
                .lr(0.01).warmupRatio(0.2).etaMin(0.001).clipGradNorm(1.0)
                .data(data, 3)
                .saveCkptFolder(base.resolve("ckpt")).checkpointEvery(3)
                .runDir(base.resolve("run")).logEvery(1).seed(7).tensorboard(false);
    }
}
