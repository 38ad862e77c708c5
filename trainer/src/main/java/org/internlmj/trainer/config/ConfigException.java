package org.internlmj.trainer.config;

/** A config that cannot be used: the message names the key, the value and what was expected. */
public final class ConfigException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    public ConfigException(String message) {
        super(message);
    }
}
