package org.internlmj.trainer.cli;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.internlmj.trainer.data.Prepare;
import org.internlmj.trainer.tokenizer.Tokenizer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code internlmj prepare}: text or JSONL files to InternLM's tokenized .bin/.bin.meta format. */
@Command(name = "prepare", mixinStandardHelpOptions = true,
        description = {"Tokenize text files (one document each) or JSONL files ({\"text\": ...} per line) into "
                + "InternLM's dataset format: OUT/train/NAME.bin(.meta) and OUT/valid/NAME.bin(.meta).",
                "Inputs may be files, folders or globs (quote them: '**/*.md')."})
final class PrepareCommand implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Parameters(arity = "1..*", paramLabel = "INPUT", description = "Text/JSONL files, folders or globs.")
    List<String> inputs;

    @Option(names = "--out", required = true, description = "Output folder (must not exist unless --force).")
    Path out;

    @Option(names = "--tokenizer", defaultValue = "byte",
            description = "\"byte\" (built-in byte-level) or a HuggingFace tokenizer.json. Default: ${DEFAULT-VALUE}.")
    String tokenizer;

    @Option(names = "--valid-fraction", defaultValue = "0.05",
            description = "Share of documents held out for validation. Default: ${DEFAULT-VALUE}.")
    double validFraction;

    @Option(names = "--text-key", defaultValue = "text", description = "JSONL key holding the text. Default: ${DEFAULT-VALUE}.")
    String textKey;

    @Option(names = "--name", defaultValue = "data", description = "Base name of the .bin files. Default: ${DEFAULT-VALUE}.")
    String name;

    @Option(names = "--force", description = "Replace OUT if it exists (only once the new data is complete).")
    boolean force;

    @Override
    public Integer call() throws Exception {
        if (validFraction < 0 || validFraction > 0.5) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "--valid-fraction must be in [0, 0.5], got " + validFraction);
        }
        PrintWriter o = spec.commandLine().getOut();
        List<Path> files = Prepare.expand(inputs, Path.of(""));
        long total = 0;
        for (Path f : files) {
            total += Files.size(f);
        }
        try (Tokenizer tok = Tokenizer.load(tokenizer);
             ProgressBar bar = new ProgressBarBuilder().setTaskName("prepare").setInitialMax(total).setUnit(" MiB", 1 << 20)
                     .setStyle(ProgressBarStyle.ASCII).setConsumer(new me.tongfei.progressbar.ConsoleProgressBarConsumer(System.err))
                     .build()) {
            Prepare.Result r = Prepare.run(files, out, tok, validFraction, textKey, name, force, bar::stepTo);
            bar.stepTo(total);
            o.printf("wrote %s: train %d documents, %d tokens; valid %d documents, %d tokens (tokenizer %s)%s%n", r.out(),
                    r.trainDocuments(), r.trainTokens(), r.validDocuments(), r.validTokens(), tok.name(),
                    r.skippedFiles() > 0 ? "; skipped " + r.skippedFiles() + " binary files" : "");
        }
        return 0;
    }
}
