package org.internlmj.tensor;

import java.util.Arrays;
import org.internlmj.tensor.cpu.CpuStorage;

/**
 * An n-dimensional strided view over a {@link Storage}: shape, strides (in elements), an offset, a
 * dtype and a device. Views (reshape of contiguous data, transpose, permute, narrow, select, expand)
 * share storage; {@link #contiguous()} and {@link #to} copy. Math lives in the {@link Backend} of the
 * device ({@link Ops} for allocating convenience calls); differentiable math lives in autograd.
 *
 * <pre>{@code
 * Tensor x = Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
 * Tensor xt = x.transpose(0, 1);            // [3, 2] view, no copy
 * float[] data = xt.toFloatArray();         // {1, 4, 2, 5, 3, 6}
 * }</pre>
 *
 * <p>One tensor holds fewer than 2^31 elements.
 */
public final class Tensor {
    private final Storage storage;
    private final int[] shape;
    private final int[] strides;
    private final int offset;

    private Tensor(Storage storage, int[] shape, int[] strides, int offset) {
        this.storage = storage;
        this.shape = shape;
        this.strides = strides;
        this.offset = offset;
    }

    /** A view over existing storage; checks that every element it can address lies inside it. */
    public static Tensor view(Storage storage, int[] shape, int[] strides, int offset) {
        if (shape.length != strides.length) {
            throw new IllegalArgumentException("shape " + Shapes.str(shape) + " and strides " + Shapes.str(strides)
                    + " differ in rank");
        }
        Shapes.numel(shape);
        long lo = offset;
        long hi = offset;
        boolean empty = false;
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] == 0) {
                empty = true;
            } else if (strides[i] >= 0) {
                hi += (long) strides[i] * (shape[i] - 1);
            } else {
                lo += (long) strides[i] * (shape[i] - 1);
            }
        }
        if (!empty && (lo < 0 || hi >= storage.length())) {
            throw new IllegalArgumentException("view shape " + Shapes.str(shape) + " strides " + Shapes.str(strides)
                    + " offset " + offset + " reaches elements [" + lo + ", " + hi + "] outside a storage of "
                    + storage.length());
        }
        return new Tensor(storage, shape.clone(), strides.clone(), offset);
    }

    // ---------------------------------------------------------------- factories

    /** An uninitialised tensor (contents undefined) owned by the current {@link MemoryScope}. */
    public static Tensor empty(DType dtype, Device device, int... shape) {
        return allocate(dtype, device, false, shape);
    }

    public static Tensor zeros(DType dtype, Device device, int... shape) {
        return allocate(dtype, device, true, shape);
    }

    /** A tensor with every element {@code value}. */
    public static Tensor full(double value, DType dtype, Device device, int... shape) {
        Tensor t = empty(dtype, device, shape);
        t.backend().fill(t, value);
        return t;
    }

    /** Uniform random in [lo, hi) from the generator's stream. */
    public static Tensor uniform(Generator gen, double lo, double hi, DType dtype, Device device, int... shape) {
        Tensor t = empty(dtype, device, shape);
        long off = gen.reserve(t.numel());
        t.backend().fillRandom(t, Backend.Distribution.UNIFORM, lo, hi, gen.seed(), off);
        return t;
    }

    /** Normal random with the given mean and standard deviation from the generator's stream. */
    public static Tensor normal(Generator gen, double mean, double std, DType dtype, Device device, int... shape) {
        Tensor t = empty(dtype, device, shape);
        long off = gen.reserve(t.numel());
        t.backend().fillRandom(t, Backend.Distribution.NORMAL, mean, std, gen.seed(), off);
        return t;
    }

    private static Tensor allocate(DType dtype, Device device, boolean zeroed, int... shape) {
        int n = Shapes.numel(shape);
        Storage s = Backends.of(device).allocate(dtype, n, zeroed);
        MemoryScope.track(s);
        return new Tensor(s, shape.clone(), Shapes.contiguousStrides(shape), 0);
    }

    /** A CPU F32 tensor holding a copy of {@code data}. */
    public static Tensor of(float[] data, int... shape) {
        checkLength(data.length, shape);
        Tensor t = empty(DType.F32, Device.CPU, shape);
        System.arraycopy(data, 0, ((CpuStorage) t.storage).f32(), 0, data.length);
        return t;
    }

    /** A CPU tensor of the given floating dtype holding {@code data} rounded to it. */
    public static Tensor of(float[] data, DType dtype, int... shape) {
        Tensor f = of(data, shape);
        return dtype == DType.F32 ? f : f.to(dtype);
    }

    /** A CPU F64 tensor holding a copy of {@code data} (for float64 reference checks). */
    public static Tensor of(double[] data, int... shape) {
        checkLength(data.length, shape);
        Tensor t = empty(DType.F64, Device.CPU, shape);
        System.arraycopy(data, 0, ((CpuStorage) t.storage).f64(), 0, data.length);
        return t;
    }

    /** A CPU I32 tensor holding a copy of {@code data}. */
    public static Tensor ofInts(int[] data, int... shape) {
        checkLength(data.length, shape);
        Tensor t = empty(DType.I32, Device.CPU, shape);
        System.arraycopy(data, 0, ((CpuStorage) t.storage).i32(), 0, data.length);
        return t;
    }

    /** A CPU I64 tensor holding a copy of {@code data}. */
    public static Tensor ofLongs(long[] data, int... shape) {
        checkLength(data.length, shape);
        Tensor t = empty(DType.I64, Device.CPU, shape);
        System.arraycopy(data, 0, ((CpuStorage) t.storage).i64(), 0, data.length);
        return t;
    }

    /** A 0-dimensional CPU F32 tensor. */
    public static Tensor scalar(float value) {
        return of(new float[] {value});
    }

    private static void checkLength(int length, int[] shape) {
        if (Shapes.numel(shape) != length) {
            throw new IllegalArgumentException(length + " values do not fill shape " + Shapes.str(shape)
                    + " (" + Shapes.numel(shape) + " elements)");
        }
    }

    // ---------------------------------------------------------------- metadata

    public Storage storage() {
        return storage;
    }

    public DType dtype() {
        return storage.dtype();
    }

    public Device device() {
        return storage.device();
    }

    public Backend backend() {
        return Backends.of(storage.device());
    }

    /** A copy of the shape. */
    public int[] shape() {
        return shape.clone();
    }

    /** Size of dimension {@code dim} (negative counts from the end). */
    public int size(int dim) {
        return shape[Shapes.dim(dim, shape.length)];
    }

    /** A copy of the strides, in elements. */
    public int[] strides() {
        return strides.clone();
    }

    public int stride(int dim) {
        return strides[Shapes.dim(dim, shape.length)];
    }

    /** Offset of the first element in the storage, in elements. */
    public int offset() {
        return offset;
    }

    public int rank() {
        return shape.length;
    }

    public int numel() {
        int n = 1;
        for (int d : shape) {
            n *= d;
        }
        return n;
    }

    /** True if this view's elements are laid out in row-major order without gaps. */
    public boolean isContiguous() {
        int expected = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            if (shape[i] != 1 && strides[i] != expected) {
                return false;
            }
            expected *= shape[i];
        }
        return true;
    }

    /** True if {@code other} has the same shape. */
    public boolean sameShape(Tensor other) {
        return Arrays.equals(shape, other.shape);
    }

    /** True if the storage was freed. */
    public boolean isClosed() {
        return storage.isClosed();
    }

    /** Frees the storage now (shared by every view of it). */
    public void close() {
        storage.close();
    }

    // ---------------------------------------------------------------- views

    /** A view with a new shape over contiguous data (one dimension may be -1); copies if not contiguous. */
    public Tensor reshape(int... newShape) {
        int[] resolved = resolveShape(newShape);
        if (isContiguous()) {
            return new Tensor(storage, resolved, Shapes.contiguousStrides(resolved), offset);
        }
        return contiguous().reshape(resolved);
    }

    /** Like {@link #reshape} but never copies: a non-contiguous tensor is an error. */
    public Tensor view(int... newShape) {
        if (!isContiguous()) {
            throw new IllegalStateException("view" + Shapes.str(newShape) + " of a non-contiguous tensor " + this
                    + ": call contiguous() or reshape()");
        }
        return reshape(newShape);
    }

    private int[] resolveShape(int[] newShape) {
        int[] r = newShape.clone();
        int infer = -1;
        long known = 1;
        for (int i = 0; i < r.length; i++) {
            if (r[i] == -1) {
                if (infer >= 0) {
                    throw new IllegalArgumentException("reshape " + Shapes.str(newShape) + ": only one -1 allowed");
                }
                infer = i;
            } else if (r[i] < 0) {
                throw new IllegalArgumentException("reshape " + Shapes.str(newShape) + ": negative size");
            } else {
                known *= r[i];
            }
        }
        int n = numel();
        if (infer >= 0) {
            if (known == 0 || n % known != 0) {
                throw new IllegalArgumentException("cannot reshape " + Shapes.str(shape) + " (" + n + " elements) to "
                        + Shapes.str(newShape));
            }
            r[infer] = (int) (n / known);
        } else if (known != n) {
            throw new IllegalArgumentException("cannot reshape " + Shapes.str(shape) + " (" + n + " elements) to "
                    + Shapes.str(newShape) + " (" + known + " elements)");
        }
        return r;
    }

    /** Swaps two dimensions (a view). */
    public Tensor transpose(int dim0, int dim1) {
        int a = Shapes.dim(dim0, shape.length);
        int b = Shapes.dim(dim1, shape.length);
        int[] s = shape.clone();
        int[] st = strides.clone();
        s[a] = shape[b];
        s[b] = shape[a];
        st[a] = strides[b];
        st[b] = strides[a];
        return new Tensor(storage, s, st, offset);
    }

    /** Reorders dimensions: result dimension i is this tensor's dimension {@code order[i]} (a view). */
    public Tensor permute(int... order) {
        if (order.length != shape.length) {
            throw new IllegalArgumentException("permute" + Shapes.str(order) + " of a rank-" + shape.length + " tensor");
        }
        int[] s = new int[order.length];
        int[] st = new int[order.length];
        boolean[] seen = new boolean[order.length];
        for (int i = 0; i < order.length; i++) {
            int d = Shapes.dim(order[i], shape.length);
            if (seen[d]) {
                throw new IllegalArgumentException("permute" + Shapes.str(order) + " repeats dimension " + d);
            }
            seen[d] = true;
            s[i] = shape[d];
            st[i] = strides[d];
        }
        return new Tensor(storage, s, st, offset);
    }

    /** Elements {@code start .. start+length-1} along {@code dim} (a view). */
    public Tensor narrow(int dim, int start, int length) {
        int d = Shapes.dim(dim, shape.length);
        if (start < 0 || length < 0 || start + length > shape[d]) {
            throw new IllegalArgumentException("narrow(dim " + dim + ", start " + start + ", length " + length
                    + ") out of range for shape " + Shapes.str(shape));
        }
        int[] s = shape.clone();
        s[d] = length;
        return new Tensor(storage, s, strides.clone(), offset + start * strides[d]);
    }

    /** The slice at {@code index} along {@code dim}, with that dimension removed (a view). */
    public Tensor select(int dim, int index) {
        int d = Shapes.dim(dim, shape.length);
        if (index < 0 || index >= shape[d]) {
            throw new IllegalArgumentException("select index " + index + " out of range for dimension " + dim
                    + " of shape " + Shapes.str(shape));
        }
        int[] s = new int[shape.length - 1];
        int[] st = new int[shape.length - 1];
        for (int i = 0, j = 0; i < shape.length; i++) {
            if (i != d) {
                s[j] = shape[i];
                st[j++] = strides[i];
            }
        }
        return new Tensor(storage, s, st, offset + index * strides[d]);
    }

    /** Inserts a dimension of size 1 at {@code dim} (a view). */
    public Tensor unsqueeze(int dim) {
        int d = dim < 0 ? dim + shape.length + 1 : dim;
        if (d < 0 || d > shape.length) {
            throw new IllegalArgumentException("unsqueeze(" + dim + ") out of range for rank " + shape.length);
        }
        int[] s = new int[shape.length + 1];
        int[] st = new int[shape.length + 1];
        for (int i = 0, j = 0; i < s.length; i++) {
            if (i == d) {
                s[i] = 1;
                st[i] = d < shape.length ? strides[d] * shape[d] : 1;
            } else {
                s[i] = shape[j];
                st[i] = strides[j++];
            }
        }
        return new Tensor(storage, s, st, offset);
    }

    /** Removes dimension {@code dim}, which must have size 1 (a view). */
    public Tensor squeeze(int dim) {
        int d = Shapes.dim(dim, shape.length);
        if (shape[d] != 1) {
            throw new IllegalArgumentException("squeeze(" + dim + ") of dimension of size " + shape[d]
                    + " in shape " + Shapes.str(shape));
        }
        return select(d, 0);
    }

    /** Broadcasts to {@code newShape} (NumPy rules; size-1 dimensions get stride 0): a view. */
    public Tensor expand(int... newShape) {
        if (newShape.length < shape.length) {
            throw new IllegalArgumentException("cannot expand " + Shapes.str(shape) + " to fewer dimensions "
                    + Shapes.str(newShape));
        }
        int lead = newShape.length - shape.length;
        int[] st = new int[newShape.length];
        for (int i = 0; i < newShape.length; i++) {
            if (i < lead) {
                st[i] = 0;
            } else {
                int sd = shape[i - lead];
                if (sd == newShape[i]) {
                    st[i] = strides[i - lead];
                } else if (sd == 1) {
                    st[i] = 0;
                } else {
                    throw new IllegalArgumentException("cannot expand " + Shapes.str(shape) + " to "
                            + Shapes.str(newShape) + ": dimension " + i + " is " + sd + ", not 1 or " + newShape[i]);
                }
            }
        }
        return new Tensor(storage, newShape.clone(), st, offset);
    }

    /** All dimensions merged into one (a view when contiguous, else a copy). */
    public Tensor flatten() {
        return reshape(-1);
    }

    // ---------------------------------------------------------------- copies

    /** This tensor if already contiguous, else a contiguous copy. */
    public Tensor contiguous() {
        if (isContiguous()) {
            return this;
        }
        Tensor t = empty(dtype(), device(), shape);
        backend().copy(this, t);
        return t;
    }

    /** A contiguous copy. */
    public Tensor copy() {
        Tensor t = empty(dtype(), device(), shape);
        backend().copy(this, t);
        return t;
    }

    /** Copies {@code src} (broadcast to this shape, converted to this dtype) into this tensor. */
    public Tensor copyFrom(Tensor src) {
        if (src.device().equals(device())) {
            backend().copy(src, this);
        } else {
            Backends.transfer(src, this);
        }
        return this;
    }

    /** A copy converted to {@code dtype} (this tensor if it already has it). */
    public Tensor to(DType dtype) {
        if (dtype == dtype()) {
            return this;
        }
        Tensor t = empty(dtype, device(), shape);
        backend().copy(this, t);
        return t;
    }

    /** A copy on {@code device} (this tensor if it is already there). */
    public Tensor to(Device device) {
        if (device.equals(device())) {
            return this;
        }
        Tensor t = empty(dtype(), device, shape);
        Backends.transfer(this, t);
        return t;
    }

    // ---------------------------------------------------------------- element access (tests, small data)

    /** All elements in row-major order as floats (converted from any dtype; copied to the CPU first). */
    public float[] toFloatArray() {
        Tensor c = cpuContiguous(DType.F32);
        float[] src = ((CpuStorage) c.storage).f32();
        return Arrays.copyOfRange(src, c.offset, c.offset + c.numel());
    }

    /** All elements in row-major order as doubles (exact for every dtype). */
    public double[] toDoubleArray() {
        Tensor c = cpuContiguous(dtype() == DType.I64 ? DType.I64 : DType.F64);
        if (c.dtype() == DType.I64) {
            long[] src = ((CpuStorage) c.storage).i64();
            double[] d = new double[c.numel()];
            for (int i = 0; i < d.length; i++) {
                d[i] = src[c.offset + i];
            }
            return d;
        }
        double[] src = ((CpuStorage) c.storage).f64();
        return Arrays.copyOfRange(src, c.offset, c.offset + c.numel());
    }

    /** All elements of an integer tensor in row-major order. */
    public int[] toIntArray() {
        Tensor c = cpuContiguous(DType.I32);
        int[] src = ((CpuStorage) c.storage).i32();
        return Arrays.copyOfRange(src, c.offset, c.offset + c.numel());
    }

    /** All elements of an integer tensor in row-major order. */
    public long[] toLongArray() {
        Tensor c = cpuContiguous(DType.I64);
        long[] src = ((CpuStorage) c.storage).i64();
        return Arrays.copyOfRange(src, c.offset, c.offset + c.numel());
    }

    /** The single element of a one-element tensor. */
    public float item() {
        if (numel() != 1) {
            throw new IllegalStateException("item() of a tensor with " + numel() + " elements, shape "
                    + Shapes.str(shape));
        }
        return toFloatArray()[0];
    }

    /** The element at {@code index} as a double. */
    public double get(int... index) {
        Tensor cpu = device().isCpu() ? this : to(Device.CPU);
        return ((CpuStorage) cpu.storage).get(cpu.elementOffset(index));
    }

    /** Storage position of the element at {@code index}. */
    public int elementOffset(int... index) {
        if (index.length != shape.length) {
            throw new IllegalArgumentException("index " + Shapes.str(index) + " for a rank-" + shape.length + " tensor");
        }
        int off = offset;
        for (int i = 0; i < index.length; i++) {
            if (index[i] < 0 || index[i] >= shape[i]) {
                throw new IllegalArgumentException("index " + Shapes.str(index) + " out of range for shape "
                        + Shapes.str(shape));
            }
            off += index[i] * strides[i];
        }
        return off;
    }

    private Tensor cpuContiguous(DType want) {
        storage.checkOpen();
        Tensor t = device().isCpu() ? this : to(Device.CPU);
        if (t.dtype() != want) {
            if (!want.isFloating() && t.dtype().isFloating()) {
                throw new IllegalStateException("integer values asked of a " + t.dtype() + " tensor");
            }
            t = t.to(want);
        }
        return t.contiguous();
    }

    @Override
    public String toString() {
        return "Tensor[" + dtype() + ", " + device() + ", " + Shapes.str(shape)
                + (isContiguous() ? "" : ", strides " + Shapes.str(strides)) + (isClosed() ? ", closed" : "") + "]";
    }
}
