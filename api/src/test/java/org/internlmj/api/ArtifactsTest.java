package org.internlmj.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * What {@code mvn install} publishes: every library module of the reactor is in the BOM, at the reactor's
 * version, and the README's dependency snippet names the BOM and the API at that version.
 */
class ArtifactsTest {
    private static final Path ROOT = Path.of("..");
    /** Reactor modules that are not libraries: benchmarks, the BOM itself, the distribution. */
    private static final List<String> NOT_PUBLISHED_AS_LIBRARIES = List.of("jmh", "bom", "distribution");

    private static String first(String xml, String regex) {
        Matcher m = Pattern.compile(regex, Pattern.DOTALL).matcher(xml);
        assertTrue(m.find(), "no match for " + regex);
        return m.group(1);
    }

    private static String withoutParent(String pom) {
        return pom.replaceAll("(?s)<parent>.*?</parent>", "");
    }

    @Test
    void theBomListsEveryLibraryModuleAtTheReactorsVersion() throws Exception {
        String parent = Files.readString(ROOT.resolve("pom.xml"));
        String version = first(withoutParent(parent), "<version>([^<]+)</version>");
        TreeSet<String> libraries = new TreeSet<>();
        Matcher modules = Pattern.compile("<module>([^<]+)</module>").matcher(parent);
        List<String> all = new ArrayList<>();
        while (modules.find()) {
            all.add(modules.group(1));
        }
        assertTrue(all.containsAll(List.of("api", "bom")), "api and bom are reactor modules: " + all);
        for (String module : all) {
            if (NOT_PUBLISHED_AS_LIBRARIES.contains(module)) {
                continue;
            }
            String pom = withoutParent(Files.readString(ROOT.resolve(module).resolve("pom.xml")));
            libraries.add(first(pom, "<artifactId>([^<]+)</artifactId>"));
        }
        String bom = Files.readString(ROOT.resolve("bom/pom.xml"));
        assertEquals(version, first(bom, "<artifactId>internlmj-bom</artifactId>\\s*<version>([^<]+)</version>"),
                "the BOM's version is the reactor's");
        assertTrue(bom.contains("<packaging>pom</packaging>"));
        TreeSet<String> managed = new TreeSet<>();
        Matcher deps = Pattern.compile("<groupId>org.internlmj</groupId><artifactId>([^<]+)</artifactId>"
                + "<version>\\$\\{project.version}</version>").matcher(bom);
        while (deps.find()) {
            managed.add(deps.group(1));
        }
        assertEquals(libraries, managed, "bom/pom.xml manages exactly the library modules");
    }

    @Test
    void theReadmeSnippetImportsTheBomAndNamesTheApi() throws Exception {
        String version = first(withoutParent(Files.readString(ROOT.resolve("pom.xml"))), "<version>([^<]+)</version>");
        for (String doc : List.of("README.md", "docs/embedding.md")) {
            String text = Files.readString(ROOT.resolve(doc));
            String snippet = first(text, "(<dependencyManagement>.*?</dependencies>\\s*</dependencyManagement>)");
            assertTrue(snippet.contains("<artifactId>internlmj-bom</artifactId>") && snippet.contains("<version>" + version
                    + "</version>") && snippet.contains("<scope>import</scope>"), doc + ": " + snippet);
            assertTrue(text.contains("<artifactId>internlmj-api</artifactId>"), doc);
        }
    }
}
