"""Aspects a question asks about (cost, duration, place …) and whether a topic states them."""

import pytest

from bot.knowledge.aspects import asked_aspects, declined_aspects, load_aspects, unstated_aspects
from bot.knowledge.topics import load_topics

TOPICS = load_topics()


def ids(aspects) -> list[str]:
    return [aspect.id for aspect in aspects]


def test_every_aspect_has_cues_and_a_name() -> None:
    for aspect in load_aspects():
        assert aspect.name and aspect.cues and aspect.stated, aspect.id


def test_a_cost_question_is_unstated_by_a_topic_that_names_no_cost() -> None:
    assert ids(unstated_aspects("解绑要收费吗", TOPICS["process"])) == ["cost"]


def test_an_aspect_the_topic_states_is_not_reported() -> None:
    # The guide gives the POS application's review as 3-7个工作日 and mentions its fees.
    assert unstated_aspects("风控审核要几天", TOPICS["pos_application"]) == []
    assert unstated_aspects("申请新机收费吗", TOPICS["pos_application"]) == []
    # The audit answer already says the guide gives no duration: answered as before.
    assert unstated_aspects("审核要多久", TOPICS["audit"]) == []


def test_a_place_the_guide_names_counts_as_stated() -> None:
    assert unstated_aspects("线下网点在哪", TOPICS["contact_support"]) == []
    assert ids(unstated_aspects("能不能在外地办", TOPICS["precautions"])) == ["place"]


def test_a_message_without_an_aspect_is_unchanged() -> None:
    assert asked_aspects("解绑要带什么资料") == []
    assert unstated_aspects("解绑要带什么资料", TOPICS["materials"]) == []


def test_phrases_that_only_look_like_an_aspect_are_ignored() -> None:
    assert asked_aspects("这几天我能先准备点啥") == []
    assert ids(asked_aspects("要几天才能办好")) == ["duration"]


def test_traditional_characters_are_cues_too() -> None:
    assert ids(asked_aspects("解綁費用多少")) == ["cost"]


def test_several_aspects_are_reported_in_file_order() -> None:
    assert ids(unstated_aspects("押金和手续费能退吗", TOPICS["funds"])) == ["cost", "refund"]


def test_old_device_sim_card_legal_person_and_merchant_number_are_aspects() -> None:
    assert ids(unstated_aspects("解绑后旧机器要寄回去吗", TOPICS["device_check"])) == ["old_device"]
    assert ids(unstated_aspects("机器里的流量卡要单独注销吗", TOPICS["step_deregister"])) == [
        "sim_card"]
    assert ids(unstated_aspects("法人变更了还能解绑吗", TOPICS["materials"])) == [
        "legal_person_change"]
    assert ids(unstated_aspects("商户号忘了去哪查", TOPICS["rebind"])) == ["merchant_number_lookup"]
    assert ids(asked_aspects("晚上十点还能办吗")) == ["service_hours"]
    assert asked_aspects("法人身份证明要原件吗") == []


def test_an_answer_saying_its_own_duration_is_not_given_covers_only_its_subject() -> None:
    assert unstated_aspects("审核大概多久", TOPICS["audit"]) == []
    assert unstated_aspects("交上去以后一般几天有结果", TOPICS["audit"]) == []
    assert ids(unstated_aspects("解绑多久能办好", TOPICS["audit"])) == ["duration"]
    assert unstated_aspects("冻结多久", TOPICS["step_freeze"]) == []
    assert ids(unstated_aspects("多久", TOPICS["step_freeze"])) == ["duration"]
    assert unstated_aspects("风控审核要几天", TOPICS["pos_application"]) == []  # its passage


@pytest.mark.parametrize(("text", "topic", "aspect"), [
    ("能不能加急办理", "process", "expedite"),
    ("你们有上门服务吗", "contact_support", "home_visit"),
    ("解绑要不要盖公章", "materials", "seal"),
    ("人脸识别过不了怎么办", "materials", "identity_check"),
    ("能开个解绑证明吗", "materials", "certificate"),
    ("外国人能办解绑吗", "policy", "eligibility"),
    ("去网点要预约吗", "contact_support", "queue"),
    ("机器欠费了能解绑吗", "device_check", "cost"),
])
def test_more_that_the_guide_does_not_state(text: str, topic: str, aspect: str) -> None:
    assert aspect in ids(unstated_aspects(text, TOPICS[topic]))


def test_a_cue_with_a_gap_matches_words_in_between() -> None:
    # "费…退": the fee and its refund with a few words between them.
    assert "refund" in ids(asked_aspects("服务费能不能退"))
    assert ids(asked_aspects("啥时候能弄完")) == ["duration"]
    assert "duration" not in ids(asked_aspects("什么时候算解绑完成"))


@pytest.mark.parametrize(("text", "aspect"), [
    ("解绑会不会被罚款", "cost"),
    ("解绑贵不贵", "cost"),
    ("is there a fee", "cost"),
    ("解綁要等幾個工作日", "duration"),
    ("营业执照过期了还能办吗", "document_validity"),
    ("钱要是没了算谁的", "liability"),
    ("解绑以后还保修吗", "warranty"),
    ("最晚哪天之前要办", "deadline"),
    ("五台机子能批量解绑吗", "limits"),
    ("别人能代办吗", "proxy"),
    ("礼拜天能办吗", "service_hours"),
    ("机器丢了还能解绑吗", "lost_device"),
    ("验证码一直收不到", "missing_code"),
    ("密码输错被锁了咋办", "forgotten_password"),
    ("商户号去哪里看啊", "number_location"),
    ("机身序列号在哪个位置", "number_location"),
    ("换机以后原来的二维码还能收钱吗", "payment_code"),
    ("我爱人可以帮我去弄吗", "proxy"),
    ("这个要等很久吗", "duration"),
    ("总共要多少money", "cost"),
    ("几时可以搞掂", "duration"),
])
def test_an_aspect_is_asked_in_its_general_words(text: str, aspect: str) -> None:
    assert aspect in ids(asked_aspects(text))


def test_a_topic_of_only_about_addresses_the_aspect_only_for_its_own_subject() -> None:
    # The POS application's 3-7个工作日 is the new POS's review, not the unbind's.
    assert ids(unstated_aspects("从申请到解完一般几周", TOPICS["pos_application"])) == ["duration"]
    assert unstated_aspects("新机申请要几个工作日", TOPICS["pos_application"]) == []


def test_dialect_words_are_read_as_mandarin_before_the_cues() -> None:
    """"换机洗唔洗俾钱" asks about cost in Cantonese; "注销要几耐" how long."""
    assert ids(asked_aspects("换机洗唔洗俾钱")) == ["cost"]
    assert ids(asked_aspects("注销要几耐")) == ["duration"]
    assert ids(asked_aspects("新机要几多钱")) == ["cost"]
    assert asked_aspects("账户冻结了还能收钱吗") == []  # taking payments is no cost


def test_a_topic_that_only_says_the_guide_gives_no_duration_declines_it() -> None:
    """The audit answer says 指南没有给出解绑审核的具体时长: it answers "审核要几天" as a
    question the guide does not answer; the POS application states 3-7个工作日."""
    assert ids(declined_aspects("审核要几天", TOPICS["audit"])) == ["duration"]
    assert ids(declined_aspects("冻结要冻多久", TOPICS["step_freeze"])) == ["duration"]
    assert declined_aspects("新机申请要几个工作日", TOPICS["pos_application"]) == []
    assert declined_aspects("审核要看哪些东西", TOPICS["audit"]) == []
    assert declined_aspects("解绑要多久", TOPICS["audit"]) == []  # not about the audit
    assert ids(declined_aspects("审核被驳回了咋整", TOPICS["audit"])) == ["rejection"]
