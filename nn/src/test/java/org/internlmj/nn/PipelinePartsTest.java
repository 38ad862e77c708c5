package org.internlmj.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.internlmj.autograd.F;
import org.internlmj.autograd.Variable;
import org.internlmj.dist.pipeline.PipelinePartition;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A model split into pipeline parts holds, between its parts, exactly the whole model's parameters under
 * the same names and initial values, and running the parts chunk by chunk in virtual-stage order gives
 * the whole model's logits and gradients bit for bit.
 */
class PipelinePartsTest {
    static final int[] IDS = InternLMModelTest.IDS;
    static final int[] POS = InternLMModelTest.POS;
    static final int[] CU = InternLMModelTest.CU;

    static ModelSpec spec(int layers, double checkpoint) {
        return new ModelSpec(11, 8, layers, 2, 12, ModelSpec.NormType.RMSNORM, 1e-5, DType.F32, 1.0, checkpoint, 10000.0);
    }

    @ParameterizedTest(name = "{0} layers, pp {1}, chunks {2}, checkpoint {3}")
    @CsvSource({"4, 2, 1, 0", "4, 2, 2, 0", "6, 4, 1, 1", "6, 2, 3, 0.5", "5, 3, 1, 1"})
    void partsComposeToTheWholeModel(int layers, int pp, int chunks, double checkpoint) {
        ModelSpec spec = spec(layers, checkpoint);
        InternLMModel whole = new InternLMModel(spec, Device.CPU);
        whole.initialize(3);
        PipelinePartition partition = new PipelinePartition(layers, pp, chunks);
        List<InternLMModel> parts = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (int r = 0; r < pp; r++) {
            InternLMModel part = new InternLMModel(spec, Device.CPU, partition, r);
            part.initialize(3);
            parts.add(part);
            for (Map.Entry<String, Parameter> e : part.namedParameters().entrySet()) {
                assertTrue(names.add(e.getKey()), e.getKey() + " on two ranks");
                assertArrayEquals(whole.namedParameters().get(e.getKey()).data().toFloatArray(),
                        e.getValue().data().toFloatArray(), e.getKey());
            }
        }
        assertEquals(whole.namedParameters().keySet(), names);

        Tensor ids = Tensor.ofInts(IDS, IDS.length);
        Tensor pos = Tensor.ofInts(POS, POS.length);
        Tensor cu = Tensor.ofInts(CU, CU.length);
        Tensor labels = Tensor.ofInts(InternLMModelTest.LABELS, IDS.length);
        Variable expected = whole.forward(ids, pos, cu);
        F.crossEntropy(expected, labels).backward();

        Variable x = null;
        for (int c = 0; c < chunks; c++) {
            for (int r = 0; r < pp; r++) {
                x = parts.get(r).forwardChunk(c, ids, x, pos, cu);
            }
        }
        assertArrayEquals(expected.data().toFloatArray(), x.data().toFloatArray());
        F.crossEntropy(x, labels).backward();
        for (InternLMModel part : parts) {
            for (Map.Entry<String, Parameter> e : part.namedParameters().entrySet()) {
                assertArrayEquals(whole.namedParameters().get(e.getKey()).grad().toFloatArray(), e.getValue().grad()
                        .toFloatArray(), "gradient of " + e.getKey());
            }
        }
    }

    @org.junit.jupiter.api.Test
    void aPartIsNotAWholeModel() {
        InternLMModel part = new InternLMModel(spec(4, 0), Device.CPU, new PipelinePartition(4, 2, 1), 1);
        assertEquals(List.of("blocks.2.mixer.Wqkv.weight", "blocks.2.mixer.Wqkv.bias"),
                new ArrayList<>(part.namedParameters().keySet()).subList(0, 2));
        assertTrue(part.producesLogits(0));
        assertThrows(IllegalStateException.class, () -> part.forward(Tensor.ofInts(IDS, IDS.length),
                Tensor.ofInts(POS, POS.length), Tensor.ofInts(CU, CU.length)));
        assertThrows(IllegalArgumentException.class, () -> part.forwardChunk(0, null, null, Tensor.ofInts(POS, POS.length),
                Tensor.ofInts(CU, CU.length)));
    }
}
