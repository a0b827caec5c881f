#include "tsunagu/common/error_code.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace tsunagu::common {
namespace {

TEST(ErrorCode, CatalogueIsInEnumOrderWithUniqueNames) {
  std::set<std::string> names;
  for (int i = 0; i <= static_cast<int>(ErrorCode::kInternal); ++i) {
    const auto code = static_cast<ErrorCode>(i);
    const ErrorCodeInfo& info = InfoFor(code);
    EXPECT_EQ(info.code, code) << "catalogue entry " << i << " is out of order";
    EXPECT_TRUE(names.insert(std::string(info.name)).second) << info.name;
    EXPECT_GE(info.http_status, 200);
    EXPECT_LT(info.http_status, 600);
  }
}

TEST(ErrorCode, HttpStatusesForServerAnswers) {
  EXPECT_EQ(InfoFor(ErrorCode::kNotFound).http_status, 404);
  EXPECT_EQ(InfoFor(ErrorCode::kUnauthenticated).http_status, 401);
  EXPECT_EQ(InfoFor(ErrorCode::kDiskFull).http_status, 507);
  EXPECT_EQ(InfoFor(ErrorCode::kResourceExhausted).http_status, 429);
  EXPECT_EQ(ErrorCodeName(ErrorCode::kPacsBusy), "pacs_busy");
}

}  // namespace
}  // namespace tsunagu::common
