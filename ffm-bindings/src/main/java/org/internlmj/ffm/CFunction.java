package org.internlmj.ffm;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemoryLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * One C function a binding calls: its declaration as the header writes it and the FFM descriptor the
 * downcall uses. Keeping both side by side lets {@link HeaderCheck} compile the declaration against the
 * real header and check every parameter's size and kind against the descriptor's layouts, so a
 * hand-written binding cannot silently drift from the library it calls.
 *
 * <pre>{@code
 * CFunction f = CFunction.of("CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)",
 *         JAVA_INT, ADDRESS, JAVA_LONG);
 * }</pre>
 *
 * @param name        the symbol, parsed from the declaration
 * @param declaration the C declaration without the trailing semicolon
 * @param returnType  the C return type ("void" for none)
 * @param paramTypes  the C parameter types, names removed
 * @param descriptor  the downcall's function descriptor
 */
public record CFunction(String name, String declaration, String returnType, List<String> paramTypes,
                        FunctionDescriptor descriptor) {

    /** Parses {@code declaration}; {@code ret} is null for a void function. */
    public static CFunction of(String declaration, MemoryLayout ret, MemoryLayout... args) {
        String decl = declaration.strip();
        int open = decl.indexOf('(');
        int close = decl.lastIndexOf(')');
        if (open < 0 || close < open) {
            throw new IllegalArgumentException("not a C function declaration: " + declaration);
        }
        String head = decl.substring(0, open).strip();
        int nameStart = head.length();
        while (nameStart > 0 && isIdent(head.charAt(nameStart - 1))) {
            nameStart--;
        }
        String name = head.substring(nameStart);
        String returnType = head.substring(0, nameStart).strip();
        if (name.isEmpty() || returnType.isEmpty()) {
            throw new IllegalArgumentException("cannot find the name and return type in " + declaration);
        }
        List<String> params = new ArrayList<>();
        String inside = decl.substring(open + 1, close).strip();
        if (!inside.isEmpty() && !inside.equals("void")) {
            for (String p : inside.split(",")) {
                params.add(stripName(p.strip(), declaration));
            }
        }
        if (params.size() != args.length) {
            throw new IllegalArgumentException(name + ": the declaration has " + params.size()
                    + " parameters, the descriptor " + args.length);
        }
        if ((ret == null) != returnType.equals("void")) {
            throw new IllegalArgumentException(name + ": return type " + returnType + " and descriptor disagree");
        }
        FunctionDescriptor fd = ret == null ? FunctionDescriptor.ofVoid(args) : FunctionDescriptor.of(ret, args);
        return new CFunction(name, decl, returnType, List.copyOf(params), fd);
    }

    /** "const char *name" -> "const char *"; "CUdevice dev" -> "CUdevice"; an unnamed type stays as is. */
    private static String stripName(String param, String declaration) {
        int end = param.length();
        int start = end;
        while (start > 0 && isIdent(param.charAt(start - 1))) {
            start--;
        }
        String before = param.substring(0, start).strip();
        if (start == end) {
            throw new IllegalArgumentException("parameter '" + param + "' of " + declaration + " has no name");
        }
        // A lone type name ("void *" has no identifier at the end; "int" alone would be taken for a name).
        if (before.isEmpty()) {
            throw new IllegalArgumentException("parameter '" + param + "' of " + declaration
                    + " must be written with a name (type name)");
        }
        return before;
    }

    private static boolean isIdent(char c) {
        return Character.isLetterOrDigit(c) || c == '_';
    }
}
