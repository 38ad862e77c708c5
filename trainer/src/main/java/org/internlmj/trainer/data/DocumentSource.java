package org.internlmj.trainer.data;

/** A numbered collection of tokenized documents (a .bin file, or generated random documents). */
public interface DocumentSource {
    /** Name for messages (the file path). */
    String name();

    int documents();

    /** Token count of document {@code i}. */
    int length(int i);

    /** Tokens of document {@code i}; negative ids are inputs without loss (InternLM's SFT convention). */
    int[] document(int i);

    /** Data type id for per-type metrics: InternLM takes it from the path (/en/ 0, /cn/ 1, /code/ 2). */
    int typeId();
}
