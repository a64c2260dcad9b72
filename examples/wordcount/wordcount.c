/* wordcount: counts the words on stdin. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

static void usage(void)
{
	fprintf(stderr, "usage: wordcount [-w]\n");
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-w") != 0) {
			usage();
			return 2;
		}
	}
	long words = 0;
	int c, in_word = 0;
	while ((c = getchar()) != EOF) {
		if (isspace(c)) {
			in_word = 0;
		} else if (!in_word) {
			in_word = 1;
			words++;
		}
	}
	printf("%ld\n", words);
	return 0;
}
