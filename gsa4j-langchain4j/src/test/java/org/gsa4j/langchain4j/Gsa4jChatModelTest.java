package org.gsa4j.langchain4j;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.output.FinishReason;
import org.gsa4j.data.BpeTokenizer;
import org.gsa4j.data.BpeTrainer;
import org.gsa4j.io.SafeTensors;
import org.gsa4j.models.ModelLoader;
import org.gsa4j.serve.LocalModel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The in-process adapter: a blocking and a streaming chat on a tiny model agree with each other and with the engine. */
class Gsa4jChatModelTest {
    @Test
    void chatAndStreamingChat(@TempDir Path dir) throws Exception {
        BpeTokenizer tok = BpeTrainer.train(List.of("Emma Woodhouse, handsome, clever, and rich, with a comfortable home and happy disposition."), 300);
        ObjectNode c = new ObjectMapper().createObjectNode().put("model_type", "gsa").put("vocab_size", tok.vocabSize()).put("hidden_size", 32)
                .put("num_hidden_layers", 2).put("num_heads", 2).put("num_slots", 4).put("intermediate_size", 48).put("initializer_range", 0.3);
        ModelLoader.save(ModelLoader.create(c, 3), dir, SafeTensors.DType.F32);
        tok.saveHuggingFace(dir);
        ObjectNode cfg = (ObjectNode) new ObjectMapper().readTree(dir.resolve("tokenizer_config.json").toFile());
        cfg.put("chat_template", "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}<|assistant|>");
        Files.writeString(dir.resolve("tokenizer_config.json"), cfg.toString());

        try (LocalModel local = LocalModel.open(dir, 4)) {
            Gsa4jChatModel model = new Gsa4jChatModel(local, 8);
            ChatResponse whole = model.chat(SystemMessage.from("be brief"), UserMessage.from("Emma"));
            String direct = local.chat(List.of(new LocalModel.Message("system", "be brief"), new LocalModel.Message("user", "Emma")),
                    LocalModel.Params.greedy(8), null).text();
            assertEquals(direct, whole.aiMessage().text());
            assertTrue(whole.tokenUsage().inputTokenCount() > 3);
            assertTrue(whole.finishReason() == FinishReason.LENGTH || whole.finishReason() == FinishReason.STOP);

            StringBuilder parts = new StringBuilder();
            CompletableFuture<ChatResponse> done = new CompletableFuture<>();
            new Gsa4jStreamingChatModel(local, 8).chat(List.of(SystemMessage.from("be brief"), UserMessage.from("Emma")), new StreamingChatResponseHandler() {
                @Override
                public void onPartialResponse(String partial) {
                    parts.append(partial);
                }

                @Override
                public void onCompleteResponse(ChatResponse response) {
                    done.complete(response);
                }

                @Override
                public void onError(Throwable error) {
                    done.completeExceptionally(error);
                }
            });
            assertEquals(whole.aiMessage().text(), done.get(60, TimeUnit.SECONDS).aiMessage().text());
            assertEquals(whole.aiMessage().text(), parts.toString());
        }
    }
}
