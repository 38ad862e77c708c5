package org.internlmj.trainer.cli;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.jar.JarFile;

/**
 * The command line that starts another JVM running this same program: the same {@code java}, the same
 * JVM options, the same jar or class path. Debugger agents are left out (every worker would try to open
 * the same debug port).
 */
final class WorkerCommand {
    private WorkerCommand() {
    }

    /** {@code java [this JVM's options] (-jar JAR | -cp PATH Main) args...}. */
    static List<String> forThisJvm(List<String> args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (!isDebugAgent(a)) {
                cmd.add(a);
            }
        }
        String classPath = System.getProperty("java.class.path");
        if (isOurJar(classPath)) {
            // the jar's manifest carries Enable-Native-Access and Add-Opens, which only -jar applies
            cmd.add("-jar");
            cmd.add(classPath);
        } else {
            cmd.add("-cp");
            cmd.add(classPath);
            cmd.add(Main.class.getName());
        }
        cmd.addAll(args);
        return cmd;
    }

    static boolean isDebugAgent(String jvmArg) {
        return jvmArg.startsWith("-agentlib:jdwp") || jvmArg.startsWith("-Xrunjdwp") || jvmArg.equals("-Xdebug");
    }

    /** True if the class path is one jar whose manifest starts this CLI (the shaded internlmj.jar). */
    private static boolean isOurJar(String classPath) {
        if (classPath == null || classPath.contains(java.io.File.pathSeparator) || !classPath.endsWith(".jar")
                || !Files.isRegularFile(Path.of(classPath))) {
            return false;
        }
        try (JarFile jar = new JarFile(classPath)) {
            var manifest = jar.getManifest();
            return manifest != null && Main.class.getName().equals(manifest.getMainAttributes().getValue("Main-Class"));
        } catch (IOException e) {
            return false;
        }
    }
}
