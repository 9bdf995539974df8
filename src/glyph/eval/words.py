"""Word sources for the synthetic tasks: needle keys, common words, coded words.

RULER draws keys as ``adjective-noun`` pairs and common words from an English word list;
these are our own short lists (plain, unambiguous words), with the essays' vocabulary and
pronounceable made-up words when a task needs tens of thousands of distinct words.
"""

from __future__ import annotations

import functools
import random
import re
import string


def _words(text: str) -> tuple[str, ...]:
    """A word list written as text (easier to read and edit than a literal of strings)."""
    return tuple(text.split())


ADJECTIVES = _words(
    """
    able afraid ancient angry annual ashamed awake bald bare basic bitter blank bold brave brief
    bright broad broken busy calm careful cheap cheerful chilly civil clean clever close cloudy
    coastal cold common cosy crazy crisp cruel curious daily damp dark dear deep dense distant
    dizzy dry dull dusty eager early eastern easy elder empty equal exact fair faint false
    famous fancy fast fierce final firm flat fond formal fragile free fresh friendly frozen full
    funny gentle giant glad golden grand great green grumpy handy happy hard harsh heavy hidden
    high hollow honest huge humble hungry icy idle jolly keen kind large late lazy lean light
    little lively local lonely long loose loud lovely low loyal lucky mad major mellow mild
    minor modern moist muddy narrow nasty neat new nice noble noisy normal odd old open orange
    pale patient plain plump polite poor proud purple quick quiet rapid rare raw ready real rich
    rigid ripe rough round royal rusty sad safe salty sandy scarce secret shaggy sharp shiny
    short shy silent silly simple sleepy slim slow small smart smooth soft solid sour spare
    steady steep sticky stiff still stormy strange strict strong sudden sunny super sweet swift
    tall tame tender thick thin tidy tiny tired tough true ugly upset urban usual vague vast
    velvet violet vivid warm weak weary wet white whole wide wild windy wise wooden yellow young
    zealous
    """
)

NOUNS = _words(
    """
    acorn actor airport album anchor animal apple apron arch arrow artist attic autumn avenue
    badge bakery balcony ball banana band banner barn basket battery beach beard bell bench
    bicycle bird blanket boat bonnet book bottle bracelet branch bread bridge brush bucket
    button cabin cable cactus cake camera camp candle canoe canyon captain carpet carrot castle
    cat cave cellar chair chalk cherry chimney church circus city cliff clock cloud coat coffee
    collar comet compass cookie copper corner cottage cousin crayon creek crown cup curtain
    cushion daisy dancer desert diamond dinner doctor dolphin donkey door dragon drawer drum
    eagle engine envelope falcon farm feather fence ferry field finger flag flower forest
    fountain fox frog garden gate ghost giraffe glacier glove goat guitar hammer harbor hat
    hedge helmet hill hive honey horse hotel island jacket jelly jungle kettle key kitchen kite
    ladder lake lamp lantern lemon letter library lighthouse lion lizard magnet mango map marble
    meadow melon mirror monkey moon mountain museum needle nest ocean office orchard otter owl
    paddle palace panda parrot pasta peach pebble pencil pepper piano pillow pilot planet plum
    pocket pond potato puzzle queen rabbit radio rainbow river robot rocket saddle sailor salad
    scarf school shadow shell ship shovel singer skate sled snail socket spoon squirrel stable
    station statue stove street sugar sunset swan table teacher tent thunder tiger toast tomato
    tower tractor train trumpet tulip tunnel turtle umbrella valley vase village violin wagon
    wallet walrus whale window wizard wolf yacht zebra
    """
)


def key_words() -> list[str]:
    """All ``adjective-noun`` pairs, sorted (about 50,000): RULER's kind of word keys."""
    return [f"{a}-{n}" for a in ADJECTIVES for n in NOUNS]


def random_key_word(rng: random.Random) -> str:
    """One ``adjective-noun`` pair (without building the whole list)."""
    return f"{rng.choice(ADJECTIVES)}-{rng.choice(NOUNS)}"


@functools.cache
def essay_vocabulary() -> tuple[str, ...]:
    """Distinct lowercase words (3+ letters) of the bundled essays, in order of first use."""
    from glyph.data.essays import essay_texts

    seen: dict[str, None] = {}
    for _, text in essay_texts():
        for word in re.findall(r"[A-Za-z]{3,}", text):
            seen.setdefault(word.lower(), None)
    return tuple(seen)


_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "gr", "st", "tr")
_VOWELS = ("a", "e", "i", "o", "u")


def made_up_words(
    count: int, rng: random.Random, exclude: set[str] | frozenset[str] = frozenset()
) -> list[str]:
    """``count`` distinct pronounceable made-up words (three syllables) not in ``exclude``."""
    out: dict[str, None] = {}
    while len(out) < count:
        word = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(3))
        if word not in exclude:
            out.setdefault(word, None)
    return list(out)


def word_pool(count: int, rng: random.Random) -> list[str]:
    """``count`` distinct words: the essay words in random order, then made-up ones if needed.

    The pool for ``count`` is a prefix of the pool for ``count + 1`` (same ``rng`` state), so a
    haystack grows smoothly while its size is being fitted to a token budget.
    """
    vocab = list(essay_vocabulary())
    rng.shuffle(vocab)
    if count <= len(vocab):
        return vocab[:count]
    return vocab + made_up_words(count - len(vocab), rng, exclude=set(vocab))


def coded_words(count: int, rng: random.Random, length: int = 6) -> list[str]:
    """``count`` distinct random lowercase codes of ``length`` letters (RULER's fwe vocabulary)."""
    out: dict[str, None] = {}
    while len(out) < count:
        out.setdefault("".join(rng.choices(string.ascii_lowercase, k=length)), None)
    return list(out)
