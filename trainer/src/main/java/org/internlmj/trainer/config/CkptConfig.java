package org.internlmj.trainer.config;

import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * The {@code ckpt} section. Folders may carry InternLM's {@code local:} prefix; other storage
 * back-ends ({@code boto3:}, {@code volc:}, {@code oss2:}) are refused with a clear message.
 *
 * @param ossSnapshotFreq steps between snapshot checkpoints (alternating slots); {@code Integer.MAX_VALUE} = never
 * @param keepLast keep only the newest N step checkpoints (0 keeps all; this engine's key {@code keep_last})
 */
public record CkptConfig(boolean enableSaveCkpt, String saveCkptFolder, String loadCkptFolder,
                         String loadModelOnlyFolder, boolean loadOptimizer, LoadInfo loadCkptInfo, boolean autoResume,
                         int checkpointEvery, boolean asyncUpload, String asyncUploadTmpFolder,
                         String snapshotCkptFolder, int ossSnapshotFreq, String stopFilePath, int keepLast) {

    /** {@code load_ckpt_info}: what to load from where. */
    public record LoadInfo(String path, Set<String> content, String ckptType) {
    }

    private static final Set<String> CONTENTS = Set.of("model", "sampler", "optimizer", "scheduler", "all");

    static CkptConfig from(Section s) {
        boolean save = s.getBool("enable_save_ckpt", true);
        String saveFolder = folder(s, "save_ckpt_folder");
        if (save && saveFolder == null) {
            throw new ConfigException("ckpt.save_ckpt_folder is required when ckpt.enable_save_ckpt is True");
        }
        LoadInfo info = null;
        if (s.has("load_ckpt_info")) {
            Section li = s.section("load_ckpt_info");
            String path = stripLocal(li, "path", li.getString("path", null));
            List<String> content = li.getStringList("content", List.of("model"));
            for (String c : content) {
                if (!CONTENTS.contains(c.toLowerCase(Locale.ROOT))) {
                    throw new ConfigException("ckpt.load_ckpt_info.content contains \"" + c + "\": expected a subset of "
                            + CONTENTS);
                }
            }
            String type = li.getString("ckpt_type", "internlm");
            if (!Set.of("internlm", "internlmj", "normal", "hf", "hf_llama", "hf_internlm").contains(type.toLowerCase(Locale.ROOT))) {
                throw new ConfigException("ckpt.load_ckpt_info.ckpt_type = \"" + type
                        + "\": expected \"internlm\" (this engine's checkpoints) or \"hf\" (HuggingFace safetensors)");
            }
            li.finish();
            info = new LoadInfo(path, Set.copyOf(content.stream().map(c -> c.toLowerCase(Locale.ROOT)).toList()), type);
        }
        int every = s.getInt("checkpoint_every", Integer.MAX_VALUE);
        s.range("checkpoint_every", every, 1, Integer.MAX_VALUE);
        double freq = s.getDouble("oss_snapshot_freq", Double.POSITIVE_INFINITY);
        int snapshotFreq = freq >= Integer.MAX_VALUE ? Integer.MAX_VALUE : (int) freq;
        s.range("oss_snapshot_freq", snapshotFreq, 1, Integer.MAX_VALUE);
        String snapshotFolder = folder(s, "snapshot_ckpt_folder");
        if (snapshotFolder == null && saveFolder != null) {
            snapshotFolder = saveFolder + "/snapshot";
        }
        CkptConfig c = new CkptConfig(save, saveFolder, folder(s, "load_ckpt_folder"), folder(s, "load_model_only_folder"),
                s.getBool("load_optimizer", true), info, s.getBool("auto_resume", true), every,
                s.getBool("async_upload", false), s.getString("async_upload_tmp_folder", "/dev/shm/internlm_tmp_ckpt/"),
                snapshotFolder, snapshotFreq, s.getString("stop_file_path", null), s.getInt("keep_last", 0));
        s.range("keep_last", c.keepLast(), 0, Integer.MAX_VALUE);
        s.finish();
        return c;
    }

    private static String folder(Section s, String key) {
        return stripLocal(s, key, s.getString(key, null));
    }

    /** Removes InternLM's {@code local:} prefix; refuses remote storage prefixes. */
    static String stripLocal(Section s, String key, String value) {
        if (value == null || value.isBlank()) {
            return null;
        }
        if (value.startsWith("local:")) {
            return value.substring("local:".length());
        }
        for (String remote : new String[] {"boto3:", "volc:", "oss2:", "s3:"}) {
            if (value.startsWith(remote)) {
                throw new ConfigException(s.path() + "." + key + " = \"" + value + "\": remote storage (" + remote
                        + ") is not supported; use a local path or the local: prefix");
            }
        }
        return value;
    }
}
