"""Messages that ask more than one thing are split into their questions."""

import pytest

from bot.nlu.clauses import (
    asks,
    asks_after,
    asks_next,
    confirms,
    inner_cuts,
    negated_statement,
    next_after_done,
    offers_choice,
    refers_back,
    requests,
    short_question,
    split_clauses,
    topic_start,
    withdraws,
    without_joiner,
)


def clauses(text: str) -> list[str]:
    return [text[a:b] for a, b in split_clauses(text)]


@pytest.mark.parametrize(("text", "expected"), [
    ("要带什么资料，多久能办完", ["要带什么资料", "多久能办完"]),
    ("要带什么资料,多久能办完", ["要带什么资料", "多久能办完"]),  # as the normaliser leaves it
    ("解绑需要哪些证件？还有客服电话是多少", ["解绑需要哪些证件", "还有客服电话是多少"]),
    ("数据要不要备份另外钱会不会丢", ["数据要不要备份", "另外钱会不会丢"]),
    ("解绑要带什么 多久能办好", ["解绑要带什么", "多久能办好"]),
    ("解绑前要准备啥 顺便问下账户会冻结吗", ["解绑前要准备啥", "顺便问下账户会冻结吗"]),
    ("好的,对了审核要几天", ["好的", "对了审核要几天"]),
    ("资料要带齐吗还有审核多久", ["资料要带齐吗", "还有审核多久"]),
    ("能线上办吗要带什么资料", ["能线上办吗", "要带什么资料"]),  # dictated, no punctuation
    ("不用了,谢谢,另外审核要几天", ["不用了", "谢谢", "另外审核要几天"]),
    ("资料我知道了此外钱会冻结吗", ["资料我知道了", "此外钱会冻结吗"]),
    ("培训交接呢测试验证又是啥", ["培训交接呢", "测试验证又是啥"]),  # "呢" like "吗"
    ("要准备什么再一个钱会不会受影响", ["要准备什么", "再一个钱会不会受影响"]),
    ("怎么备份顺带问下能重新绑吗", ["怎么备份", "顺带问下能重新绑吗"]),
    ("流程是啥 and how do i contact support", ["流程是啥", "and how do i contact support"]),
])
def test_two_questions_are_two_clauses(text: str, expected: list[str]) -> None:
    assert clauses(text) == expected


@pytest.mark.parametrize("text", [
    "你好", "我要解绑 急", "unbind my pos", "好的。", "1.5", "还有", "  审核要多久？ ",
    "解绑要多久吗", "是吗", "有吗?", "how do i back up and restore data", "android pos怎么解绑",
])
def test_one_question_stays_one_clause(text: str) -> None:
    assert len(split_clauses(text)) == 1


def test_offsets_point_into_the_text() -> None:
    text = "  要带什么资料？  多久能办完 "
    assert [text[a:b] for a, b in split_clauses(text)] == ["要带什么资料", "多久能办完"]


@pytest.mark.parametrize(("piece", "expected"), [
    ("要带什么资料", True), ("多久能办好", True), ("要不要备份", True), ("能线上办吗", True),
    ("数据迁移是干嘛的", True), ("如何联系客服", True), ("有影响没", True), ("能办不", True),
    ("机器坏了", False), ("我要解绑", False), ("数据迁移", False),
])
def test_a_question_has_a_question_word_or_form(piece: str, expected: bool) -> None:
    assert asks(piece) is expected


def test_run_on_questions_may_be_cut_between_their_question_words() -> None:
    text = "要带什么资料多久能办好"
    words = [0, 1, 2, 4, 6, 8, 9, 10]  # 要 带 什么 资料 多久 能 办 好
    assert text[:6] + "|" + text[6:] in {text[:c] + "|" + text[c:]
                                        for c in inner_cuts(text, words)}
    # each side must ask something and be long enough to: no cut inside one question
    assert inner_cuts("审核要多久", [0, 2, 3]) == []
    assert inner_cuts("我要解绑要带什么资料", [0, 2, 4, 5, 6, 8]) == []
    # nor inside a word of Latin letters and Chinese ("pos机"): 都几天了 | pos | 机上…
    assert 8 not in inner_cuts("都几天了 pos机上咋操作解绑", [0, 1, 3, 4, 5, 8, 10, 11, 13])


@pytest.mark.parametrize(("piece", "expected"), [
    ("不打电话", True), ("别让我跑网点", True), ("我不想去营业厅", True), ("没带身份证", True),
    ("不解绑会怎样", False), ("不能线上办吗", False), ("要带什么资料", False), ("打电话", False),
])
def test_a_negated_clause_that_asks_nothing_is_a_statement(piece: str, expected: bool) -> None:
    assert negated_statement(piece) is expected


@pytest.mark.parametrize(("piece", "expected"), [
    ("还有备好文件是吧", True), ("要带营业执照对吧？", True), ("先备份是不是", True),
    ("那我留言吧", False), ("是不是要先备份", False), ("要带什么资料", False),
])
def test_a_confirmation_tag_ends_a_statement(piece: str, expected: bool) -> None:
    assert confirms(piece) is expected


@pytest.mark.parametrize(("piece", "expected"), [
    ("帮我打开通知", True), ("别老是通知我了好吗", True), ("请转人工", True),
    ("请问解绑收费吗", False), ("会给我发短信通知吗", False),
])
def test_a_request_asks_for_something_to_be_done(piece: str, expected: bool) -> None:
    assert requests(piece) is expected


@pytest.mark.parametrize(("piece", "expected"), [
    ("之后还要干嘛", True),
    ("审完以后呢", True),
    ("接下来做什么", True),
    ("之后我再联系你", False),  # says, does not ask
    ("客服电话多少", False),
])
def test_a_clause_may_ask_what_comes_after(piece: str, expected: bool) -> None:
    assert asks_after(piece) is expected


@pytest.mark.parametrize(("text", "expected"), [
    ("冻结做完了那然后呢", ["冻结做完了", "那然后呢"]),
    ("旧机器注销好了 接下来干啥", ["旧机器注销好了", "接下来干啥"]),
    ("备份弄好了之后还要做什么？", ["备份弄好了", "之后还要做什么？"]),
    ("培训搞定了下一步是哪步", ["培训搞定了", "下一步是哪步"]),
    ("资料都交上去了 后面呢", ["资料都交上去了", "后面呢"]),
])
def test_a_bare_what_next_after_something_done_is_about_that_thing(
    text: str, expected: list[str]
) -> None:
    spans = next_after_done(text)
    assert spans is not None and [text[a:b] for a, b in spans] == expected


@pytest.mark.parametrize("text", [
    "然后呢",  # nothing is named as done
    "弄完呢",  # too short to name what is done
    "注销完了以后钱怎么退",  # the question after names its own topic
    "审核要多久 然后呢",  # nothing is said to be done
    "迁移完了之后要不要测机器",
])
def test_other_messages_have_no_bare_what_next(text: str) -> None:
    assert next_after_done(text) is None


@pytest.mark.parametrize(("text", "expected"), [
    ("押金怎么退 另外多久能到账", ["押金怎么退", "多久能到账"]),
    ("要先备份吗顺便问下注销在哪一步", ["要先备份吗", "注销在哪一步"]),
    ("好的,对了去哪填表", ["好的", "去哪填表"]),
    ("表格填好了 还有就是交给谁", ["表格填好了", "交给谁"]),
    ("解绑要多久 还有呢", ["解绑要多久", "还有呢"]),  # nothing would be left: kept
])
def test_a_clause_is_ranked_without_the_word_that_joins_it(
    text: str, expected: list[str]
) -> None:
    assert [text[slice(*without_joiner(text, a, b))] for a, b in split_clauses(text)] == expected

@pytest.mark.parametrize(("piece", "rest"), [
    ("另外想问一下账户会冻结多久", "账户会冻结多久"),
    ("顺便问问备份要自己弄吗", "备份要自己弄吗"),
    ("对了 我还想问下注销是啥", "注销是啥"),
    ("此外，请问新机谁来装", "新机谁来装"),
    ("还有一步是干嘛的", "还有一步是干嘛的"),  # "还有" asks what is left: kept
    ("另外问下资料", "另外问下资料"),  # too little would be left to ask
    ("审核要几天", "审核要几天"),
])
def test_a_clause_is_asked_without_the_words_that_join_it(piece: str, rest: str) -> None:
    assert piece[topic_start(piece):] == rest


@pytest.mark.parametrize(("piece", "expected"), [
    ("解绑我不做了 撤销吧", True),
    ("申请不弄了，作废", True),
    ("那张工单给我撤回", True),
    ("取消吧", False),  # names nothing to withdraw: a stop
    ("不办了不办了", False),
    ("取消进度推送", False),
    ("解绑以后能取消冻结吗", False),  # cancels something else
])
def test_what_names_the_application_it_cancels(piece: str, expected: bool) -> None:
    assert withdraws(piece) is expected


@pytest.mark.parametrize(("piece", "expected"), [
    ("账户冻好了 接下来干啥", True),
    ("迁移做完 还剩几步", True),
    ("装机以后呢", True),
    ("注销过了下一步是什么", True),
    ("冻结完接着是不是迁数据", True),  # is the next step this one
    ("冻结是干嘛用的", False),  # what a step is for
    ("交完资料以后第一步是啥", False),  # a step by its number
    ("冻结以后还剩多少钱", False),  # money left, not steps
    ("审核完了要多久呢", False),
])
def test_what_comes_once_something_is_done(piece: str, expected: bool) -> None:
    assert asks_next(piece) is expected


@pytest.mark.parametrize(("piece", "expected"), [
    ("那一步干嘛的", True),
    ("这个步骤要注意什么", True),
    ("那步是做啥用的", True),
    ("这环节要多久", True),
    ("那一步", False),  # names the step, asks nothing
    ("这一步做完了", False),
    ("那就这样吧", False),
    ("冻结那一步干嘛的", False),  # names its own step first
])
def test_a_question_about_that_step(piece: str, expected: bool) -> None:
    assert refers_back(piece) is expected


@pytest.mark.parametrize(("piece", "expected"), [
    ("是网上申请还是在机器上弄", True),
    ("线上办还是去网点办", True),
    ("先测试还是先迁移", True),
    ("都解绑了新机器还是用不了", False),  # "still", before a negation
    ("弄完了还是没动静", False),
    ("还是算了", False),  # nothing offered before it
    ("网上申请怎么弄", False),
])
def test_a_choice_between_two_things(piece: str, expected: bool) -> None:
    assert offers_choice(piece) is expected


@pytest.mark.parametrize(("piece", "expected"), [
    ("找谁", True),
    ("问谁", True),
    ("咋弄", False),  # how, of what the clause before names
    ("多久", False),
    ("好吗", False),
    ("后面", False),
    ("有问题找谁", False),  # long enough to be a question anyway
])
def test_a_two_character_question_of_its_own(piece: str, expected: bool) -> None:
    assert short_question(piece) is expected
