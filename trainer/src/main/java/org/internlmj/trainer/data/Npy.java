package org.internlmj.trainer.data;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * NumPy {@code .npy} files holding a 2-D integer matrix: InternLM's {@code .bin.meta} is
 * {@code np.save} of an int32 array {@code (num_docs, 2)} of {@code [byte_offset, num_tokens]}.
 * Layout (format version 1.0): magic {@code \x93NUMPY}, major 1, minor 0, uint16-LE header length,
 * a Python dict literal header padded with spaces to a multiple of 64 bytes ending in '\n', raw data.
 * Reads {@code <i4} and {@code <i8} (some tools write int64); writes {@code <i4} unless a value does not fit.
 */
public final class Npy {
    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final Pattern DESCR = Pattern.compile("'descr'\\s*:\\s*'([^']*)'");
    private static final Pattern FORTRAN = Pattern.compile("'fortran_order'\\s*:\\s*(True|False)");
    private static final Pattern SHAPE = Pattern.compile("'shape'\\s*:\\s*\\(\\s*(\\d+)\\s*,\\s*(\\d+)\\s*,?\\s*\\)");

    private Npy() {
    }

    /** Reads a 2-D int32/int64 matrix as longs, row-major. Errors name the file and what is wrong. */
    public static long[][] readMatrix(Path file) throws IOException {
        byte[] all = Files.readAllBytes(file);
        if (all.length < 10) {
            throw new DataFormatException(file, 0, "too short to be a .npy file (" + all.length + " bytes)");
        }
        for (int i = 0; i < MAGIC.length; i++) {
            if (all[i] != MAGIC[i]) {
                throw new DataFormatException(file, 0, "not a .npy file (missing the \\x93NUMPY magic)");
            }
        }
        int major = all[6] & 0xff;
        int headerLen;
        int dataStart;
        ByteBuffer bb = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        if (major == 1) {
            headerLen = bb.getShort(8) & 0xffff;
            dataStart = 10 + headerLen;
        } else if (major == 2 || major == 3) {
            headerLen = bb.getInt(8);
            dataStart = 12 + headerLen;
        } else {
            throw new DataFormatException(file, 6, "unsupported .npy version " + major);
        }
        if (dataStart > all.length) {
            throw new DataFormatException(file, 8, "header length " + headerLen + " runs past the end of the file");
        }
        String header = new String(all, dataStart - headerLen, headerLen, StandardCharsets.ISO_8859_1);
        Matcher d = DESCR.matcher(header);
        Matcher f = FORTRAN.matcher(header);
        Matcher s = SHAPE.matcher(header);
        if (!d.find() || !s.find()) {
            throw new DataFormatException(file, 10, "header is not a 2-D array: " + header.trim());
        }
        if (f.find() && f.group(1).equals("True")) {
            throw new DataFormatException(file, 10, "Fortran-ordered arrays are not supported");
        }
        int width = switch (d.group(1)) {
            case "<i4", "|i4" -> 4;
            case "<i8", "|i8" -> 8;
            default -> throw new DataFormatException(file, 10, "dtype " + d.group(1) + ": expected int32 (<i4) or int64 (<i8)");
        };
        long rows = Long.parseLong(s.group(1));
        long cols = Long.parseLong(s.group(2));
        long need = rows * cols * width;
        if (dataStart + need != all.length) {
            throw new DataFormatException(file, dataStart, "holds " + (all.length - dataStart) + " data bytes, shape ("
                    + rows + ", " + cols + ") needs " + need + (dataStart + need > all.length ? " (truncated?)" : ""));
        }
        long[][] out = new long[(int) rows][(int) cols];
        int pos = dataStart;
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                out[r][c] = width == 4 ? bb.getInt(pos) : bb.getLong(pos);
                pos += width;
            }
        }
        return out;
    }

    /** Encodes a 2-D matrix as .npy v1.0 ({@code <i4}, or {@code <i8} if a value exceeds int32). */
    public static byte[] encodeMatrix(long[][] rows, int cols) {
        boolean fitsInt = true;
        for (long[] r : rows) {
            for (long v : r) {
                fitsInt &= v >= Integer.MIN_VALUE && v <= Integer.MAX_VALUE;
            }
        }
        int width = fitsInt ? 4 : 8;
        String dict = "{'descr': '" + (fitsInt ? "<i4" : "<i8") + "', 'fortran_order': False, 'shape': (" + rows.length
                + ", " + cols + "), }";
        int unpadded = 10 + dict.length() + 1;
        int padded = (unpadded + 63) / 64 * 64;
        StringBuilder h = new StringBuilder(dict);
        while (10 + h.length() + 1 < padded) {
            h.append(' ');
        }
        h.append('\n');
        byte[] header = h.toString().getBytes(StandardCharsets.ISO_8859_1);
        ByteBuffer bb = ByteBuffer.allocate(10 + header.length + rows.length * cols * width).order(ByteOrder.LITTLE_ENDIAN);
        bb.put(MAGIC).put((byte) 1).put((byte) 0).putShort((short) header.length).put(header);
        for (long[] r : rows) {
            for (int c = 0; c < cols; c++) {
                if (width == 4) {
                    bb.putInt((int) r[c]);
                } else {
                    bb.putLong(r[c]);
                }
            }
        }
        return bb.array();
    }
}
