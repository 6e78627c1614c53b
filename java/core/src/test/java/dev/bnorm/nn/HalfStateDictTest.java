package dev.bnorm.nn;

import static dev.bnorm.nn.PyTorchFixtureTest.resource;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.bnorm.Tensor;
import dev.bnorm.kernel.DType;
import dev.bnorm.kernel.GoldenCases;
import dev.bnorm.kernel.Kernels;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/**
 * BF16 and F16 state dicts written by PyTorch (make_half_state_dict.py: the trained MLP of
 * mlp_trained.safetensors after {@code model.to(dtype)}) load into bnorm's float32 parameters
 * with PyTorch's values, and bnorm writes the same files from the float32 model.
 */
class HalfStateDictTest {

    static final GoldenCases.Case HALF = Fixtures.text("mlp_half.txt");

    @ParameterizedTest
    @CsvSource({"bf16, mlp_trained_bf16.safetensors", "f16, mlp_trained_f16.safetensors"})
    void aHalfStateDictFromPyTorchLoadsWithPyTorchsValues(String prefix, String file) throws IOException {
        try (Sequential model = Fixtures.mlp(Kernels.best(), 5, 6, 8, 3)) {
            StateDicts.load(model, resource(file));
            for (Map.Entry<String, Tensor> e : model.stateDict().entrySet()) {
                assertEquals(DType.F32, e.getValue().dtype());
                assertArrayEquals(HALF.floats(prefix + "." + e.getKey()), e.getValue().toArray(), prefix + " " + e.getKey());
            }
            assertEquals(HALF.number(prefix + ".1.num_batches_tracked"), model.counters().get("1.num_batches_tracked").get());
        }
    }

    @ParameterizedTest
    @CsvSource({"BF16, mlp_trained_bf16.safetensors", "F16, mlp_trained_f16.safetensors"})
    void savingTheFloat32ModelAsHalfGivesPyTorchsFileByteForByte(DType dtype, String file, @TempDir Path dir)
            throws IOException {
        try (Sequential model = Fixtures.mlp(Kernels.best(), 6, 6, 8, 3)) {
            StateDicts.load(model, resource("mlp_trained.safetensors"));
            Path saved = dir.resolve(file);
            StateDicts.save(model, saved, dtype); // bnorm's rounding of the same float32 values as PyTorch's .to()
            assertArrayEquals(Files.readAllBytes(resource(file)), Files.readAllBytes(saved));
            // and the model is unchanged: saving it as F32 still gives PyTorch's float32 file
            Path f32 = dir.resolve("f32.safetensors");
            StateDicts.save(model, f32, DType.F32);
            assertArrayEquals(Files.readAllBytes(resource("mlp_trained.safetensors")), Files.readAllBytes(f32));
        }
    }

    @ParameterizedTest
    @CsvSource({"BF16, mlp_trained_bf16.safetensors", "F16, mlp_trained_f16.safetensors"})
    void aLoadedHalfFileSavesBackToItself(DType dtype, String file, @TempDir Path dir) throws IOException {
        try (Sequential model = Fixtures.mlp(Kernels.best(), 7, 6, 8, 3)) {
            StateDicts.load(model, resource(file));
            Path saved = dir.resolve(file);
            StateDicts.save(model, saved, dtype); // widened exactly, so rounding gives the same bits
            assertArrayEquals(Files.readAllBytes(resource(file)), Files.readAllBytes(saved));
        }
    }

    @Test
    void aHalfTensorOfAModelIsSavedInItsOwnDType(@TempDir Path dir) throws IOException {
        // save(Module, Path) writes each tensor in its dtype; a model holds float32 only, so this
        // writes F32 whatever the file it was loaded from
        try (Sequential model = Fixtures.mlp(Kernels.best(), 8, 6, 8, 3)) {
            StateDicts.load(model, resource("mlp_trained_bf16.safetensors"));
            Path saved = dir.resolve("again.safetensors");
            StateDicts.save(model, saved);
            try (Sequential back = Fixtures.mlp(Kernels.best(), 9, 6, 8, 3)) {
                StateDicts.load(back, saved);
                for (Map.Entry<String, Tensor> e : model.stateDict().entrySet()) {
                    assertArrayEquals(e.getValue().toArray(), back.stateDict().get(e.getKey()).toArray(), e.getKey());
                }
            }
            String header = new String(Files.readAllBytes(saved), 8, 100, java.nio.charset.StandardCharsets.UTF_8);
            assertEquals(true, header.contains("\"dtype\":\"F32\""), header);
            assertThrows(IllegalArgumentException.class, () -> StateDicts.save(model, dir.resolve("x"), (DType) null));
        }
    }
}
