package org.gsa4j.langchain4j;

import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import org.gsa4j.serve.LocalModel;

/**
 * A gsa4j model as a LangChain4j {@link ChatModel}, in-process: the server's engine
 * ({@link LocalModel}: chat template, continuous batching, sampling) without HTTP.
 * {@link Gsa4jStreamingChatModel} streams.
 *
 * <pre>{@code
 * try (LocalModel local = LocalModel.open(Path.of("my-model"), 8)) {
 *     ChatModel model = new Gsa4jChatModel(local, 128);
 *     String answer = model.chat("Who is Emma?");
 * }
 * }</pre>
 * Request parameters (max output tokens, temperature, top-p, top-k, stop sequences) override the
 * defaults: {@code maxTokens} here, greedy decoding.
 */
public final class Gsa4jChatModel implements ChatModel {
    private final LocalModel model;
    private final int maxTokens;

    public Gsa4jChatModel(LocalModel model, int maxTokens) {
        this.model = model;
        this.maxTokens = maxTokens;
    }

    @Override
    public ChatResponse doChat(ChatRequest request) {
        return Conversions.response(model, model.chat(Conversions.messages(request), Conversions.params(request.parameters(), maxTokens), null));
    }
}
