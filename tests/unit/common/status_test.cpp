#include "tsunagu/common/status.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace tsunagu::common {
namespace {

TEST(Status, DefaultIsOkAndNotRetryable) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_FALSE(s.retryable());
  EXPECT_EQ(s.ToString(), "ok");
}

TEST(Status, RetryableFollowsTheCatalogue) {
  EXPECT_TRUE(UnavailableError("relay down").retryable());
  EXPECT_TRUE(DeadlineExceededError("slow").retryable());
  EXPECT_TRUE(PacsBusyError("busy").retryable());
  EXPECT_TRUE(DiskFullError("full").retryable());
  EXPECT_FALSE(InvalidArgumentError("bad").retryable());
  EXPECT_FALSE(DeidentificationRefusedError("burned-in text").retryable());
}

TEST(Status, CallSiteCanNarrowRetryability) {
  Status s = UnavailableError("chat server down").NotRetryable();
  EXPECT_FALSE(s.retryable());
  EXPECT_EQ(s.code(), ErrorCode::kUnavailable);
}

TEST(Status, ExplicitRetryableOverridesCatalogue) {
  Status s(ErrorCode::kInternal, "flaky", true);
  EXPECT_TRUE(s.retryable());
}

TEST(Status, ToStringNamesCodeAndMessage) {
  EXPECT_EQ(PacsBusyError("C-MOVE refused").ToString(), "pacs_busy: C-MOVE refused");
}

TEST(Status, WithContextPrefixesMessageAndKeepsCode) {
  Status s = NotFoundError("no such study").WithContext("commit");
  EXPECT_EQ(s.message(), "commit: no such study");
  EXPECT_EQ(s.code(), ErrorCode::kNotFound);
  EXPECT_TRUE(Status::Ok().WithContext("x").ok());
}

TEST(Status, OkCodeDropsMessage) {
  Status s(ErrorCode::kOk, "ignored");
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.message(), "");
}

TEST(Status, FromErrnoMapsDiskFullAndMissingFiles) {
  EXPECT_EQ(StatusFromErrno(ENOSPC, "write").code(), ErrorCode::kDiskFull);
  EXPECT_TRUE(StatusFromErrno(ENOSPC, "write").retryable());
  EXPECT_EQ(StatusFromErrno(ENOENT, "open").code(), ErrorCode::kNotFound);
  EXPECT_EQ(StatusFromErrno(EACCES, "open").code(), ErrorCode::kPermissionDenied);
  EXPECT_NE(StatusFromErrno(ENOSPC, "write x").message().find("write x: "), std::string::npos);
}

Status ReturnsEarly(bool fail, int* reached) {
  TSUNAGU_RETURN_IF_ERROR(fail ? InvalidArgumentError("stop") : Status::Ok());
  *reached = 1;
  return Status::Ok();
}

TEST(Status, ReturnIfErrorPropagates) {
  int reached = 0;
  EXPECT_EQ(ReturnsEarly(true, &reached).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(reached, 0);
  EXPECT_TRUE(ReturnsEarly(false, &reached).ok());
  EXPECT_EQ(reached, 1);
}

}  // namespace
}  // namespace tsunagu::common
