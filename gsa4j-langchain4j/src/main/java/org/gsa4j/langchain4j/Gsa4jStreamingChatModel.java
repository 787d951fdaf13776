package org.gsa4j.langchain4j;

import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import org.gsa4j.serve.LocalModel;

/** As {@link Gsa4jChatModel}, streaming: the handler gets the text as it is generated, then the whole response. */
public final class Gsa4jStreamingChatModel implements StreamingChatModel {
    private final LocalModel model;
    private final int maxTokens;

    public Gsa4jStreamingChatModel(LocalModel model, int maxTokens) {
        this.model = model;
        this.maxTokens = maxTokens;
    }

    @Override
    public void doChat(ChatRequest request, StreamingChatResponseHandler handler) {
        try {
            LocalModel.Result r = model.chat(Conversions.messages(request), Conversions.params(request.parameters(), maxTokens), handler::onPartialResponse);
            handler.onCompleteResponse(Conversions.response(model, r));
        } catch (RuntimeException e) {
            handler.onError(e);
        }
    }
}
