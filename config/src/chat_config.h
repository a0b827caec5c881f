// Private: reads [chat] ([[chat.connectors]]) and the chat policy keys of [[threads]].
#ifndef TSUNAGU_CONFIG_SRC_CHAT_CONFIG_H_
#define TSUNAGU_CONFIG_SRC_CHAT_CONFIG_H_

#include <vector>

#include "toml_reader.h"
#include "tsunagu/config/chat_options.h"

namespace tsunagu::config {
struct ThreadOptions;
}

namespace tsunagu::config::internal {

ChatOptions ReadChat(Section section);
// Reads per_patient, room_label, invite, thumbnails, seen_receipts from one [[threads]] table.
ChatThreadPolicy ReadChatThreadPolicy(Section& thread);
// Cross-checks threads against connectors (reported as threads[i].<key>). While no connector is
// configured, threads are not checked (configs written before [chat] existed keep loading).
void CheckChatThreads(Errors& errors, const ChatOptions& chat,
                      const std::vector<ThreadOptions>& threads);
void CheckChatFiles(Errors& errors, const ChatOptions& chat);

}  // namespace tsunagu::config::internal

#endif  // TSUNAGU_CONFIG_SRC_CHAT_CONFIG_H_
