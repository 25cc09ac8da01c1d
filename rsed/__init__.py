"""rsed: rare sound event detection with a convolutional recurrent network.

A reproduction of Amiriparian et al., "Deep Convolutional Recurrent Neural Network
for Rare Acoustic Event Detection" (DAGA 2018) on DCASE 2017 Task 2.
"""

__version__ = "0.1.0"
