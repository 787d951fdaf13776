package org.gsa4j.langchain4j;

import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.model.output.TokenUsage;
import org.gsa4j.serve.LocalModel;

import java.util.ArrayList;
import java.util.List;

/** LangChain4j's requests and responses to and from {@link LocalModel}'s. */
final class Conversions {
    private Conversions() {}

    static ChatResponse response(LocalModel model, LocalModel.Result r) {
        return ChatResponse.builder().aiMessage(AiMessage.from(r.text())).modelName(model.name())
                .finishReason(r.finishReason().equals("length") ? FinishReason.LENGTH : FinishReason.STOP)
                .tokenUsage(new TokenUsage(r.promptTokens(), r.completionTokens())).build();
    }

    /** The request's parameters over the defaults: {@code maxTokens}, greedy decoding. */
    static LocalModel.Params params(ChatRequestParameters p, int maxTokens) {
        int max = p.maxOutputTokens() != null ? p.maxOutputTokens() : maxTokens;
        double temperature = p.temperature() != null ? p.temperature() : 0;
        double topP = p.topP() != null ? p.topP() : 1;
        int topK = p.topK() != null ? p.topK() : 0;
        return new LocalModel.Params(max, temperature, topP, topK, null, p.stopSequences() == null ? List.of() : p.stopSequences());
    }

    static List<LocalModel.Message> messages(ChatRequest request) {
        List<LocalModel.Message> out = new ArrayList<>();
        for (ChatMessage m : request.messages()) {
            switch (m) {
                case SystemMessage s -> out.add(new LocalModel.Message("system", s.text()));
                case UserMessage u -> out.add(new LocalModel.Message("user", u.singleText()));
                case AiMessage a -> out.add(new LocalModel.Message("assistant", a.text() == null ? "" : a.text()));
                default -> throw new IllegalArgumentException("gsa4j chat takes system, user and assistant text messages, not " + m.type());
            }
        }
        return out;
    }
}
