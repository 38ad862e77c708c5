package org.internlmj.trainer.cli;

/** Lets tests in other packages run the CLI and see its exit code (stderr is echoed on failure). */
public final class MainTestAccess {
    private MainTestAccess() {
    }

    public static int run(String... args) {
        MainTest.Result r = MainTest.run(args);
        if (r.code() != 0) {
            System.err.println(r.err());
        }
        return r.code();
    }
}
