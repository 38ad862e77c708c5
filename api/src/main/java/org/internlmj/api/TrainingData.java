package org.internlmj.api;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import org.internlmj.trainer.data.Prepare;

/**
 * Tokenized training data on disk, in InternLM's format ({@code .bin} and {@code .bin.meta} files),
 * written by {@link #prepare}: each document becomes {@code [BOS] tokens [EOS]}; a share of the documents
 * (chosen by a hash of the document's position in the list, so the same list always splits the same way) goes to the validation folder; empty documents are skipped.
 *
 * <pre>{@code
 * TrainingData data = TrainingData.prepare(List.of("first document", "second document"),
 *         Path.of("work/data"), Tokenizer.byteLevel(), 0.0);
 * Config cfg = Config.fromFile(Path.of("configs/demo.yaml")).toBuilder().data(data, 100).build();
 * }</pre>
 *
 * @param trainFolder      the training part ({@code data.train_folder})
 * @param validFolder      the validation part ({@code data.valid_folder}), or null when no document went there
 * @param trainDocuments   documents in the training part
 * @param trainTokens      their tokens, BOS and EOS included
 * @param validDocuments   documents in the validation part
 * @param validTokens      their tokens
 */
public record TrainingData(Path trainFolder, Path validFolder, int trainDocuments, long trainTokens,
                           int validDocuments, long validTokens) {

    /**
     * Tokenizes {@code documents} into {@code folder}/train and {@code folder}/valid. The folder must not
     * exist yet; it appears whole or not at all (it is built under a temporary name).
     *
     * @param validFraction share of documents held out for validation, in [0, 0.5]
     * @throws IllegalArgumentException if there are no documents, the fraction is out of range or the folder exists
     */
    public static TrainingData prepare(List<String> documents, Path folder, Tokenizer tokenizer, double validFraction)
            throws IOException {
        Objects.requireNonNull(tokenizer, "tokenizer");
        if (documents.isEmpty()) {
            throw new IllegalArgumentException("no documents to prepare");
        }
        if (!(validFraction >= 0 && validFraction <= 0.5)) {
            throw new IllegalArgumentException("validFraction must be in [0, 0.5], got " + validFraction);
        }
        if (Files.exists(folder)) {
            throw new IllegalArgumentException("the data folder " + folder + " already exists");
        }
        Prepare.Result r = Prepare.runTexts(documents, folder, LibraryTokenizer.internal(tokenizer), validFraction,
                "documents");
        return new TrainingData(folder.resolve("train"), r.validDocuments() == 0 ? null : folder.resolve("valid"),
                r.trainDocuments(), r.trainTokens(), r.validDocuments(), r.validTokens());
    }
}
