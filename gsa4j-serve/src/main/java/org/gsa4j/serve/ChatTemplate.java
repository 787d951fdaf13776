package org.gsa4j.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import org.gsa4j.Gsa4jException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A model's chat template, the Jinja text Hugging Face keeps in {@code tokenizer_config.json}
 * ({@code chat_template}, a string or a list of named templates of which "default" is taken) or in
 * {@code chat_template.jinja}, rendered with Jinjava (HubSpot's Jinja for the JVM) with the
 * variables transformers passes: {@code messages}, {@code add_generation_prompt},
 * {@code bos_token}, {@code eos_token}, and {@code raise_exception}. gsa4j adds
 * {@code session_continues}: true when the messages continue a stored session, whose earlier turns
 * the template must not repeat (a template may skip its system prompt or BOS then).
 */
final class ChatTemplate {
    private final String template;
    private final String bos, eos;
    private final Jinjava jinjava;

    private ChatTemplate(String template, String bos, String eos) {
        this.template = template;
        this.bos = bos;
        this.eos = eos;
        this.jinjava = new Jinjava(JinjavaConfig.newBuilder().withTrimBlocks(false).build());
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception", ChatTemplate.class, "raise", String.class));
    }

    /** Called by templates to refuse a conversation (e.g. roles out of order). */
    public static String raise(String message) {
        throw ApiError.badRequest("messages", "the chat template refused the messages: " + message);
    }

    /** The template of a model folder, or null when it has none. */
    static ChatTemplate load(Path modelDir) {
        Path config = modelDir.resolve("tokenizer_config.json"), jinja = modelDir.resolve("chat_template.jinja");
        try {
            JsonNode c = Files.isRegularFile(config) ? new ObjectMapper().readTree(config.toFile()) : null;
            String text = null;
            if (Files.isRegularFile(jinja)) text = Files.readString(jinja);
            else if (c != null && c.path("chat_template").isTextual()) text = c.get("chat_template").asText();
            else if (c != null && c.path("chat_template").isArray()) {
                for (JsonNode t : c.get("chat_template")) if (t.path("name").asText().equals("default")) text = t.path("template").asText(null);
            }
            if (text == null) return null;
            return new ChatTemplate(text, token(c, "bos_token"), token(c, "eos_token"));
        } catch (IOException e) {
            throw Gsa4jException.at(config, "chat_template", "cannot read: " + e.getMessage(), e);
        }
    }

    /** A special token's text: a string, or {"content": ...}. */
    private static String token(JsonNode config, String field) {
        if (config == null) return "";
        JsonNode t = config.path(field);
        return t.isTextual() ? t.asText() : t.path("content").asText("");
    }

    /** The prompt for {@code messages} (role, content), ending where the assistant's reply begins. */
    String render(List<Map<String, Object>> messages, boolean sessionContinues) {
        Map<String, Object> vars = new HashMap<>();
        vars.put("messages", messages);
        vars.put("add_generation_prompt", true);
        vars.put("bos_token", bos);
        vars.put("eos_token", eos);
        vars.put("session_continues", sessionContinues);
        RenderResult r = jinjava.renderForResult(template, vars);
        if (r.hasErrors()) {
            var err = r.getErrors().get(0);
            if (err.getException() instanceof ApiError api) throw api;
            throw ApiError.badRequest("messages", "the chat template failed: " + err.getMessage());
        }
        return r.getOutput();
    }
}
