package org.internlmj.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.reflect.Constructor;
import java.lang.reflect.Executable;
import java.lang.reflect.Field;
import java.lang.reflect.GenericArrayType;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.RecordComponent;
import java.lang.reflect.Type;
import java.lang.reflect.TypeVariable;
import java.lang.reflect.WildcardType;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The library's boundary (docs/embedding.md): applications see the types of {@code org.internlmj.api} and
 * of the JDK, nothing else. Every public or protected signature of the package (supertypes, fields,
 * constructors, methods, record components, thrown exceptions, type arguments) is checked; so is the list
 * of public types itself, so widening the API is a deliberate change of this test.
 */
class ApiBoundaryTest {
    private static final String PACKAGE = "org.internlmj.api";

    private static final Set<String> API = Set.of("CheckpointSaved", "Config", "Config$Builder", "GenerationOptions",
            "InternLM", "InternLM$Format", "LoadOptions", "Score", "StepMetrics", "Tokenizer", "Trainer", "Trainer$Builder",
            "TrainingData", "TrainingListener", "TrainingResult", "ValidationResult");

    private static List<Class<?>> packageClasses() throws IOException, URISyntaxException, ClassNotFoundException {
        Path root = Path.of(InternLM.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        List<Class<?>> out = new ArrayList<>();
        try (Stream<Path> files = Files.list(root.resolve(PACKAGE.replace('.', '/')))) {
            for (Path f : files.sorted().toList()) {
                String n = f.getFileName().toString();
                if (n.endsWith(".class")) {
                    out.add(Class.forName(PACKAGE + "." + n.substring(0, n.length() - ".class".length()), false,
                            ApiBoundaryTest.class.getClassLoader()));
                }
            }
        }
        return out;
    }

    private static boolean exposed(Class<?> c) {
        for (Class<?> k = c; k != null; k = k.getDeclaringClass()) {
            if (!Modifier.isPublic(k.getModifiers())) {
                return false;
            }
        }
        return !c.isAnonymousClass() && !c.isSynthetic();
    }

    @Test
    void thePublicTypesAreTheApi() throws Exception {
        Set<String> exposed = new TreeSet<>();
        for (Class<?> c : packageClasses()) {
            if (exposed(c)) {
                exposed.add(c.getName().substring(PACKAGE.length() + 1));
            }
        }
        assertEquals(new TreeSet<>(API), exposed);
    }

    @Test
    void publicSignaturesMentionOnlyApiAndJdkTypes() throws Exception {
        List<String> leaks = new ArrayList<>();
        for (Class<?> c : packageClasses()) {
            if (!exposed(c)) {
                continue;
            }
            String where = c.getSimpleName();
            check(c.getGenericSuperclass(), where + " extends", leaks);
            for (Type t : c.getGenericInterfaces()) {
                check(t, where + " implements", leaks);
            }
            for (Field f : c.getDeclaredFields()) {
                if (visible(f.getModifiers()) && !f.isSynthetic()) {
                    check(f.getGenericType(), where + "." + f.getName(), leaks);
                }
            }
            if (c.isRecord()) {
                for (RecordComponent rc : c.getRecordComponents()) {
                    check(rc.getGenericType(), where + "." + rc.getName() + "()", leaks);
                }
            }
            List<Executable> members = new ArrayList<>(List.of(c.getDeclaredMethods()));
            members.addAll(List.<Constructor<?>>of(c.getDeclaredConstructors()));
            for (Executable e : members) {
                if (!visible(e.getModifiers()) || e.isSynthetic() || (e instanceof Method m && m.isBridge())) {
                    continue;
                }
                String sig = where + "." + e.getName();
                if (e instanceof Method m) {
                    check(m.getGenericReturnType(), sig + " returns", leaks);
                }
                for (Type p : e.getGenericParameterTypes()) {
                    check(p, sig + " takes", leaks);
                }
                for (Type x : e.getGenericExceptionTypes()) {
                    check(x, sig + " throws", leaks);
                }
            }
        }
        assertTrue(leaks.isEmpty(), "engine types in the public API:\n  " + String.join("\n  ", leaks));
    }

    @Test
    void everyTopLevelTypeShowsAnExampleInItsJavadoc() throws Exception {
        List<String> missing = new ArrayList<>();
        for (String name : API) {
            if (name.contains("$")) {
                continue;
            }
            String src = Files.readString(Path.of("src/main/java", PACKAGE.replace('.', '/'), name + ".java"));
            int decl = src.indexOf("public " + (src.contains("public interface " + name) ? "interface "
                    : src.contains("public record " + name) ? "record " : "final class ") + name);
            int doc = src.lastIndexOf("/**", decl);
            if (decl < 0 || doc < 0 || !src.substring(doc, decl).contains("<pre>{@code")) {
                missing.add(name);
            }
        }
        assertTrue(missing.isEmpty(), "no example in the type's Javadoc: " + missing);
    }

    private static boolean visible(int modifiers) {
        return Modifier.isPublic(modifiers) || Modifier.isProtected(modifiers);
    }

    private static void check(Type t, String where, List<String> leaks) {
        if (t == null) {
            return;
        }
        switch (t) {
            case Class<?> c -> {
                Class<?> base = c;
                while (base.isArray()) {
                    base = base.getComponentType();
                }
                String p = base.getPackageName();
                if (!base.isPrimitive() && !p.equals(PACKAGE) && !p.startsWith("java.")) {
                    leaks.add(where + " " + base.getName());
                }
            }
            case ParameterizedType pt -> {
                check(pt.getRawType(), where, leaks);
                for (Type a : pt.getActualTypeArguments()) {
                    check(a, where, leaks);
                }
            }
            case WildcardType w -> {
                for (Type b : w.getUpperBounds()) {
                    check(b, where, leaks);
                }
                for (Type b : w.getLowerBounds()) {
                    check(b, where, leaks);
                }
            }
            case GenericArrayType g -> check(g.getGenericComponentType(), where, leaks);
            case TypeVariable<?> v -> {
                for (Type b : v.getBounds()) {
                    check(b, where, leaks);
                }
            }
            default -> leaks.add(where + " " + t);
        }
    }
}
